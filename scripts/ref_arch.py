#!/usr/bin/env python3
"""Tiny random-weight models of every supported architecture, with reference logits from
Hugging Face transformers, for tests/models (architecture tests without real weights).

The data in tests/data/arch/ was made with exactly:

    python3 scripts/ref_arch.py --out tests/data/arch

Needs (CPU is enough; CI never runs this, it only reads the outputs):

    pip install torch transformers safetensors gguf numpy

(see scripts/requirements-ref.txt). Deterministic: a fixed seed per architecture.

For each architecture the script builds a transformers model from a small config (hidden 64,
GQA, vocab 512, float32, eager attention), draws its weights from a seeded generator (norm
weights near their identity value, so every norm matters; biases non-zero), and writes to
tests/data/arch/<name>/:

  config.json, model.safetensors  the Hugging Face checkpoint (for the HF reader later)
  model.gguf                      the same weights as GGUF F32 with llama.cpp's conventions:
                                  canonical tensor names; llama/mistral Q and K rows permuted
                                  for adjacent-pair RoPE; Gemma norm weights stored as 1 + w;
                                  a minimal SentencePiece vocabulary (<unk>, <s>, </s>, 256
                                  byte tokens, fillers) so the file opens as a whole model.
  ref.json, ref_logits.bin        token ids (a seeded random sequence of N_TOKENS ids) and
                                  transformers' logits at every position ([N_TOKENS, vocab]
                                  float32, little-endian), top-1 ids and top-1 margins, plus
                                  max |fp32 - fp64| of the same model run in float64.
"""

import argparse
import json
import sys
from pathlib import Path

import gguf
import numpy as np
import torch
import transformers
from safetensors.torch import save_file

N_TOKENS = 72
VOCAB = 512

# name -> (transformers config class, config kwargs, GGUF architecture)
COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6)
ARCHS = {
    # Llama 3.1-style llama3 RoPE scaling; original context 64 so that the token positions
    # and the wavelengths of 16-wide heads fall in all three bands (kept, smoothed, scaled).
    "llama3": (transformers.LlamaConfig,
               dict(COMMON, num_hidden_layers=2, tie_word_embeddings=False,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                    rope_theta=500000.0),
               "llama"),
    # Every layer windowed to 16 keys, so the window matters within the 72 positions.
    "mistral": (transformers.MistralConfig,
                dict(COMMON, num_hidden_layers=2, tie_word_embeddings=False, sliding_window=16,
                     rope_theta=10000.0),
                "mistral"),
    # q/k/v biases, tied output head.
    "qwen2": (transformers.Qwen2Config,
              dict(COMMON, num_hidden_layers=2, tie_word_embeddings=True, rope_theta=1000000.0),
              "qwen2"),
    # QK-norm; head_dim 32 with hidden 64 and 4 heads, so the q width (128) differs from hidden.
    "qwen3": (transformers.Qwen3Config,
              dict(COMMON, num_hidden_layers=2, head_dim=32, tie_word_embeddings=False,
                   rope_theta=1000000.0),
              "qwen3"),
    # Six layers: five sliding (window 8, RoPE base 10000) then one global (base 1e6, linear
    # scaling x2); query_pre_attn_scalar 24 != head_dim 16; final logit soft-capping 30.
    "gemma3": (transformers.Gemma3TextConfig,
               dict(COMMON, num_hidden_layers=6, intermediate_size=64, head_dim=16, sliding_window=8,
                    query_pre_attn_scalar=24, final_logit_softcapping=30.0, tie_word_embeddings=True,
                    rope_parameters={
                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                        "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                    }),
               "gemma3"),
}

# Hugging Face module names -> canonical GGUF names (per layer), by architecture family.
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
LLAMA_POST = {"post_attention_layernorm": "ffn_norm"}
GEMMA_POST = {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
              "post_feedforward_layernorm": "post_ffw_norm"}


def gguf_name(hf_name, gemma):
    parts = hf_name.split(".")
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    assert parts[0] == "model" and parts[1] == "layers", hf_name
    layer, module, kind = parts[2], ".".join(parts[3:-1]), parts[-1]
    table = dict(LAYER_NAMES, **(GEMMA_POST if gemma else LLAMA_POST))
    return f"blk.{layer}.{table[module]}.{kind}"


def randomize(model, seed, gemma):
    """Seeded weights: matrices N(0, 1/fan_in), norms near identity, small biases."""
    g = torch.Generator().manual_seed(seed)
    n_embd = model.config.hidden_size
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "norm" in name:  # Gemma multiplies by (1 + w); the others by w
                p.copy_(0.1 * noise if gemma else 1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif "embed_tokens" in name:
                p.copy_(noise / np.sqrt(n_embd) if gemma else noise)
            else:
                p.copy_(noise / np.sqrt(p.shape[1]))


def permute_rope_rows(w, n_head):
    """llama.cpp's converter order for llama-arch Q/K: each head's two halves interleaved."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(path, model, arch, gemma, permute):
    cfg = model.config
    w = gguf.GGUFWriter(str(path), arch)
    add_gguf_metadata(w, cfg, arch, gemma)
    for name, p in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        t = p.detach().numpy().astype(np.float32)
        out = gguf_name(name, gemma)
        if gemma and "norm" in out:
            t = (1.0 + t).astype(np.float32)  # llama.cpp stores Gemma norms as 1 + w
        if permute and (".attn_q." in out or ".attn_k." in out):
            t = permute_rope_rows(t, cfg.num_attention_heads if ".attn_q." in out else cfg.num_key_value_heads)
        w.add_tensor(out, np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def add_gguf_metadata(w, cfg, arch, gemma):
    """Hyperparameters and a minimal SentencePiece vocabulary (also used by ref_moe.py)."""
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_name(f"flashstream-tiny-{arch}")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(cfg.vocab_size)
    rope = cfg.rope_parameters
    if gemma:
        glob = rope["full_attention"]
        w.add_rope_freq_base(glob["rope_theta"])
        # The local base (10000) is left to the gemma3 default, as in llama.cpp's files.
        assert rope["sliding_attention"]["rope_theta"] == 10000.0
        if glob["rope_type"] == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(glob["factor"])
        w.add_sliding_window(cfg.sliding_window)
        w.add_float32(f"{arch}.attention.scale", cfg.query_pre_attn_scalar ** -0.5)
        if cfg.final_logit_softcapping:
            w.add_float32(f"{arch}.final_logit_softcapping", cfg.final_logit_softcapping)
    else:
        w.add_rope_freq_base(rope["rope_theta"])
        if rope.get("rope_type") == "llama3":
            w.add_string(f"{arch}.rope.scaling.type", "llama3")
            w.add_rope_scaling_factor(rope["factor"])
            w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
            w.add_float32(f"{arch}.rope.scaling.low_freq_factor", rope["low_freq_factor"])
            w.add_float32(f"{arch}.rope.scaling.high_freq_factor", rope["high_freq_factor"])
        if getattr(cfg, "sliding_window", None) and arch == "mistral":
            w.add_sliding_window(cfg.sliding_window)
    # Minimal SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, fillers.
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += [f"tok{i}" for i in range(len(tokens), cfg.vocab_size)]
    types += [1] * (cfg.vocab_size - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def make(name, out_dir, seed):
    cls, kwargs, arch = ARCHS[name]
    torch.manual_seed(seed)
    cfg = cls(**kwargs)
    cfg._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()
    gemma = arch == "gemma3"
    randomize(model, seed, gemma)
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(d)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_file(state, str(d / "model.safetensors"))
    write_gguf(d / "model.gguf", model, arch, gemma, permute=arch in ("llama", "mistral"))

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, size=N_TOKENS).tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        model64 = model.to(torch.float64)
        logits64 = model64(torch.tensor([ids]), use_cache=False).logits[0].numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    margins = (top2[:, 1] - top2[:, 0]).astype(np.float32)
    logits.astype("<f4").tofile(d / "ref_logits.bin")
    ref = {
        "layout": "ref_logits.bin: float32 little-endian [n_tokens, vocab_size] logits of input_ids",
        "architecture": arch,
        "transformers_class": type(model).__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": seed,
        "vocab_size": VOCAB,
        "input_ids": ids,
        "top1_ids": logits.argmax(axis=1).tolist(),
        "top1_margin": margins.tolist(),
        "min_top1_margin": float(margins.min()),
        "max_abs_fp32_vs_fp64": float(np.abs(logits.astype(np.float64) - logits64).max()),
    }
    (d / "ref.json").write_text(json.dumps(ref, indent=1) + "\n")
    print(f"{name}: min margin {margins.min():.4g}, fp32 vs fp64 {ref['max_abs_fp32_vs_fp64']:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", nargs="*", default=list(ARCHS))
    args = ap.parse_args()
    for i, name in enumerate(ARCHS):
        if name in args.only:
            make(name, args.out, 20261126 + i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
