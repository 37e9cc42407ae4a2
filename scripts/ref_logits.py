#!/usr/bin/env python3
"""Reference logits and greedy generations from Hugging Face transformers for golden tests.

The data in tests/data/ref/ was made with exactly:

    python3 scripts/ref_logits.py "$FS_MODEL_SMOLLM2" --out tests/data/ref

with FS_MODEL_SMOLLM2 pointing at SmolLM2-135M-Instruct.Q4_1.gguf (its sha256 is recorded
in the outputs). Needs torch, transformers (with accelerate), gguf and numpy; runs on CPU.

The model is loaded through transformers' own GGUF path
(AutoModelForCausalLM.from_pretrained(dir, gguf_file=name)): every tensor is dequantized to
float32 by gguf-py's `gguf.dequantize`, and the llama Q/K weights are un-permuted back to
the Hugging Face (half-split RoPE) row order. Inference is float32, eval mode, eager
attention, greedy (no sampling), full recompute (no KV cache).

Outputs:
  smollm2_logits.json / .bin  teacher-forced logits for 4 fixed sequences (see LOGIT_PROMPTS);
                              short prompts are extended with this model's own greedy
                              continuation to MIN_POSITIONS tokens, then the whole sequence
                              goes through one forward pass.
  smollm2_greedy.json         32 greedy tokens for 3 chat prompts rendered with the GGUF's
                              chat template (add_generation_prompt=True).
The .json files describe their own layout ("layout" key).
"""

import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import torch

MIN_POSITIONS = 64
TOP_K = 10
SUBSET_SIZE = 1024
SUBSET_SEED = 20250207
GREEDY_NEW_TOKENS = 32
FP64_CHECK_NOTE = ("max |logit_fp32 - logit_fp64| over all positions and the whole vocabulary, "
                   "same weights run in float64: a floor for comparison tolerances")

LOGIT_PROMPTS = [
    ("raw_france", "The capital of France is"),
    ("chatml_france",
     "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"),
    ("code_python",
     "def fibonacci(n):\n"
     "    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
     "    a, b = 0, 1\n"
     "    for _ in range(n):\n"
     "        a, b = b, a + b\n"
     "    return a\n"
     "\n"
     "\n"
     "if __name__ == \"__main__\":\n"),
    ("english_paragraph",
     "Lighthouses were once the only way a ship's crew could tell where the coast began at "
     "night. Each tower had its own pattern of flashes, so a navigator who counted the seconds "
     "between them could look the pattern up in a printed list and know exactly which headland "
     "lay ahead. Keepers lived in small cottages at the foot of the tower, trimming wicks, "
     "polishing the great glass lenses and winding the clockwork that turned the light. Today "
     "most of these lights are automatic, powered by batteries and solar panels, and the "
     "cottages have become museums, holiday homes or simply ruins that the wind slowly wears "
     "away."),
]

GREEDY_PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Write a haiku about the sea.",
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--out", default="tests/data/ref", help="output directory")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(model_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, name = os.path.split(os.path.abspath(model_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        d, gguf_file=name, dtype=torch.float32, attn_implementation="eager").eval()
    return tok, model


@torch.no_grad()
def forward_logits(model, ids):
    """[n_pos] ids -> [n_pos, vocab] float32 logits, one forward pass, no cache."""
    x = torch.tensor([ids], dtype=torch.long)
    return model(input_ids=x, use_cache=False).logits[0].float().numpy()


def float64_copy(model):
    """Same weights in float64 (transformers refuses .double() on GGUF-loaded models)."""
    m64 = copy.deepcopy(model)
    for t in list(m64.parameters()) + list(m64.buffers()):
        t.data = t.data.double()
    return m64


def greedy_extend(model, ids, n_new):
    """Appends n_new greedy tokens (EOS does not stop it); returns (ids, step top-1 margins)."""
    ids = list(ids)
    margins = []
    for _ in range(n_new):
        last = forward_logits(model, ids)[-1]
        order = np.argsort(-last, kind="stable")
        margins.append(float(last[order[0]] - last[order[1]]))
        ids.append(int(order[0]))
    return ids, margins


def per_position_stats(logits, subset_ids):
    """Top-k (descending logit, ties by ascending id), margin, logsumexp, subset logits."""
    order = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K]
    top_logits = np.take_along_axis(logits, order, axis=1)
    l64 = logits.astype(np.float64)
    mx = l64.max(axis=1, keepdims=True)
    lse = (mx[:, 0] + np.log(np.exp(l64 - mx).sum(axis=1))).astype(np.float32)
    margin = (top_logits[:, 0] - top_logits[:, 1]).astype(np.float32)
    subset = logits[:, subset_ids].astype(np.float32)
    return order.astype(np.int64), top_logits.astype(np.float32), lse, margin, subset


class BinWriter:
    """Accumulates float32 little-endian arrays and hands back their layout records."""

    def __init__(self):
        self.chunks = []
        self.size = 0

    def add(self, arr):
        a = np.ascontiguousarray(arr, dtype="<f4")
        rec = {"offset_bytes": self.size, "shape": list(a.shape)}
        self.chunks.append(a.tobytes())
        self.size += a.nbytes
        return rec

    def write(self, path):
        with open(path, "wb") as f:
            for c in self.chunks:
                f.write(c)


def versions():
    import gguf  # noqa: F401  (version comes from package metadata)
    import importlib.metadata as md
    import transformers
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gguf": md.version("gguf"),
        "accelerate": md.version("accelerate"),
        "numpy": np.__version__,
    }


def common_header(args, model_sha):
    return {
        "generator": "scripts/ref_logits.py",
        "command": 'python3 scripts/ref_logits.py "$FS_MODEL_SMOLLM2" --out tests/data/ref',
        "model_file": os.path.basename(args.model),
        "model_sha256": model_sha,
        "versions": versions(),
        "dequantization": (
            "transformers GGUF loader (modeling_gguf_pytorch_utils.load_gguf_checkpoint): "
            "gguf.dequantize to float32 for every tensor (Q4_1 linears, Q8_0 token_embd, F32 "
            "norms); attn_q/attn_k rows un-permuted from GGUF interleaved-RoPE order to HF "
            "half-split order (LlamaTensorProcessor._reverse_permute_weights); lm_head tied to "
            "token_embd"),
        "inference": "torch float32, eval(), eager attention, no KV cache, greedy argmax "
                     "(ties -> lowest id)",
        "bos": "no BOS is prepended (GGUF tokenizer.ggml.add_bos_token=false); ids are exactly "
               "what the HF tokenizer returns for the text",
    }


def make_logits(args, tok, model, header):
    rng = np.random.default_rng(SUBSET_SEED)
    vocab = model.config.vocab_size
    subset_ids = np.sort(rng.choice(vocab, size=SUBSET_SIZE, replace=False))
    bw = BinWriter()
    model64 = float64_copy(model)
    prompts = []
    for name, text in LOGIT_PROMPTS:
        prompt_ids = tok(text, add_special_tokens=False).input_ids
        n_new = max(0, MIN_POSITIONS - len(prompt_ids))
        ids, _ = greedy_extend(model, prompt_ids, n_new)
        logits = forward_logits(model, ids)
        top_ids, top_logits, lse, margin, subset = per_position_stats(logits, subset_ids)
        with torch.no_grad():
            l64 = model64(input_ids=torch.tensor([ids]), use_cache=False).logits[0].numpy()
        fp64_diff = float(np.abs(logits.astype(np.float64) - l64).max())
        # Teacher forcing must reproduce the appended greedy tokens.
        forced_ok = all(int(top_ids[i - 1, 0]) == ids[i] for i in range(len(prompt_ids), len(ids)))
        prompts.append({
            "name": name,
            "text": text,
            "n_prompt_tokens": len(prompt_ids),
            "n_positions": len(ids),
            "continuation_text": tok.decode(ids[len(prompt_ids):]),
            "teacher_forced_top1_matches_continuation": forced_ok,
            "fp64_max_abs_diff": fp64_diff,
            "input_ids": ids,
            "top1_ids": [int(r[0]) for r in top_ids],
            "top10_ids": top_ids.tolist(),
            "arrays": {
                "top10_logits": bw.add(top_logits),
                "logsumexp": bw.add(lse),
                "top1_margin": bw.add(margin),
                "subset_logits": bw.add(subset),
            },
        })
        print(f"[logits] {name}: {len(prompt_ids)} prompt + {n_new} greedy = {len(ids)} positions,"
              f" min margin {margin.min():.4g}, fp64 diff {fp64_diff:.3g}, forced ok {forced_ok}")
    bin_name = "smollm2_logits.bin"
    bw.write(os.path.join(args.out, bin_name))
    doc = dict(header)
    doc.update({
        "layout": {
            "bin_file": bin_name,
            "bin_bytes": bw.size,
            "dtype": "float32",
            "byte_order": "little",
            "arrays": "per prompt, prompts[i].arrays.NAME = {offset_bytes, shape}: row-major "
                      "float32 array at that byte offset of bin_file, outermost dim first "
                      "[n_positions, ...]",
            "top10_logits": "[n_positions, 10] logits of top10_ids, same order (descending)",
            "logsumexp": "[n_positions] log(sum(exp(logits))) over the full vocabulary, "
                         "computed in float64 then rounded",
            "top1_margin": "[n_positions] top-1 logit minus top-2 logit (recorded, not a "
                           "threshold)",
            "subset_logits": "[n_positions, 1024] logits at vocabulary ids subset_ids, in "
                             "that order",
            "position": "row p holds the logits predicting token p+1 after input_ids[0..p]",
            "input_ids": "the whole sequence: n_prompt_tokens from the text, then the model's "
                         "own greedy continuation (teacher-forced)",
        },
        "vocab_size": vocab,
        "subset_seed": SUBSET_SEED,
        "subset_method": "numpy.random.default_rng(seed).choice(vocab, 1024, replace=False), "
                         "sorted ascending",
        "subset_ids": subset_ids.tolist(),
        "fp64_note": FP64_CHECK_NOTE,
        "prompts": prompts,
    })
    with open(os.path.join(args.out, "smollm2_logits.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def make_greedy(args, tok, model, header):
    eos = tok.eos_token_id
    results = []
    for question in GREEDY_PROMPTS:
        messages = [{"role": "user", "content": question}]
        rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompt_ids = tok(rendered, add_special_tokens=False).input_ids
        ids, margins = greedy_extend(model, prompt_ids, GREEDY_NEW_TOKENS)
        new = ids[len(prompt_ids):]
        # Cross-check against transformers' own generate() (KV cache, stops at EOS).
        with torch.no_grad():
            gen = model.generate(torch.tensor([prompt_ids]), max_new_tokens=GREEDY_NEW_TOKENS,
                                 do_sample=False)[0, len(prompt_ids):].tolist()
        first_eos = new.index(eos) if eos in new else None
        answer = new[:first_eos] if first_eos is not None else new
        results.append({
            "messages": messages,
            "rendered_prompt": rendered,
            "prompt_ids": prompt_ids,
            "generated_ids": new,
            "generated_text": tok.decode(new),
            "first_eos_index": first_eos,
            "answer_text": tok.decode(answer),
            "step_top1_margin": margins,
            "hf_generate_ids": gen,
            "hf_generate_agrees": new[:len(gen)] == gen,
        })
        print(f"[greedy] {question!r} -> {tok.decode(answer)!r} (eos at {first_eos}, "
              f"generate agrees {new[:len(gen)] == gen}, min margin {min(margins):.4g})")
    doc = dict(header)
    doc.update({
        "layout": {
            "generated_ids": f"{GREEDY_NEW_TOKENS} greedy tokens after prompt_ids; EOS "
                             f"(id {eos}, {tok.eos_token!r}) does not stop generation",
            "first_eos_index": "index in generated_ids of the first EOS, null if none",
            "answer_text": "decode of generated_ids before first_eos_index",
            "step_top1_margin": "per generated token: top-1 minus top-2 logit at that step",
            "hf_generate_ids": "transformers generate(do_sample=False) with KV cache, which "
                               "stops after EOS; a prefix check of generated_ids",
        },
        "chat_template_source": "GGUF tokenizer.chat_template via tokenizer.apply_chat_template"
                                "(add_generation_prompt=True)",
        "eos_token_id": eos,
        "prompts": results,
    })
    with open(os.path.join(args.out, "smollm2_greedy.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    tok, model = load(args.model)
    header = common_header(args, sha256_of(args.model))
    make_logits(args, tok, model, header)
    make_greedy(args, tok, model, header)


if __name__ == "__main__":
    main()
