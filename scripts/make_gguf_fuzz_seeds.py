#!/usr/bin/env python3
"""Writes the small seed files of fuzz/gguf_fuzz.cpp into tests/data/fuzz/gguf_fuzz/.

Uses the `gguf` package (PyPI) so the seeds also come from a writer other than ours. Run it
only to regenerate the committed seeds: python3 scripts/make_gguf_fuzz_seeds.py
"""
import os
import sys

import numpy as np
import gguf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fuzz", "gguf_fuzz")
Q = gguf.GGMLQuantizationType


def raw(rng, n_rows, n_cols, qtype):
    """Random bytes of a quantized [n_rows, n_cols] tensor (scale bytes are random too)."""
    block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    return rng.integers(0, 256, size=(n_rows, n_cols // block * block_bytes), dtype=np.uint8)


def tiny_llama(path, weight_type, tied, n_embd=32, n_ff=32, n_heads=2, n_kv=1, n_layers=1):
    rng = np.random.default_rng(1)
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab", "c", "abc"]
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("fuzz seed")
    w.add_block_count(n_layers)
    w.add_context_length(128)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_heads)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(n_embd // n_heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([2, 3, 3, 1, 1, 1, 1, 1])
    w.add_token_merges(["a b", "ab c"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    hd = n_embd // n_heads

    def add(name, rows, cols, qtype):
        if qtype == Q.F32:
            w.add_tensor(name, rng.standard_normal((rows, cols)).astype(np.float32) * 0.02)
        elif qtype == Q.F16:
            w.add_tensor(name, (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16))
        else:
            w.add_tensor(name, raw(rng, rows, cols, qtype), raw_dtype=qtype)  # shape from the byte shape

    def norm(name):
        w.add_tensor(name, np.ones(n_embd, dtype=np.float32))

    add("token_embd.weight", len(tokens), n_embd, weight_type)
    for i in range(n_layers):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight")
        add(p + "attn_q.weight", n_heads * hd, n_embd, weight_type)
        add(p + "attn_k.weight", n_kv * hd, n_embd, weight_type)
        add(p + "attn_v.weight", n_kv * hd, n_embd, weight_type)
        add(p + "attn_output.weight", n_embd, n_heads * hd, weight_type)
        norm(p + "ffn_norm.weight")
        add(p + "ffn_gate.weight", n_ff, n_embd, weight_type)
        add(p + "ffn_up.weight", n_ff, n_embd, weight_type)
        add(p + "ffn_down.weight", n_embd, n_ff, weight_type)
    norm("output_norm.weight")
    if not tied:
        add("output.weight", len(tokens), n_embd, weight_type)
    finish(w)


def all_values(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -300)
    w.add_uint32("t.u32", 7)
    w.add_int32("t.i32", -7)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**40))
    w.add_float32("t.f32", 0.5)
    w.add_float64("t.f64", 1e300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "hello")
    w.add_array("t.strs", ["x", "", "yz"])
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [1.5, 2.5])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_tensor("x", np.arange(64, dtype=np.int32))
    w.add_tensor("y", raw(np.random.default_rng(2), 1, 256, Q.Q4_K), raw_dtype=Q.Q4_K)
    w.add_tensor("z", raw(np.random.default_rng(3), 2, 256, Q.Q6_K), raw_dtype=Q.Q6_K)
    finish(w)


def spm_vocab(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(2)
    w.add_context_length(64)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_uint32("general.alignment", 64)
    w.add_tokenizer_model("llama")
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(16)] + ["\u2581a", "\u2581b", "ab"]
    w.add_token_list(pieces)
    w.add_token_scores([0.0] * 3 + [0.0] * 16 + [-1.0, -2.0, -3.0])
    w.add_token_types([2, 3, 3] + [6] * 16 + [1, 1, 1])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    tiny_llama(os.path.join(OUT, "tiny_q8_0.gguf"), Q.Q8_0, tied=True)
    tiny_llama(os.path.join(OUT, "tiny_q4_1_untied.gguf"), Q.Q4_1, tied=False)
    tiny_llama(os.path.join(OUT, "tiny_f16_gqa.gguf"), Q.F16, tied=True, n_heads=4, n_kv=2)
    all_values(os.path.join(OUT, "all_values.gguf"))
    spm_vocab(os.path.join(OUT, "spm_vocab.gguf"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} seeds, {total} bytes, to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
