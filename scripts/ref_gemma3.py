#!/usr/bin/env python3
"""Reference logits and a greedy answer for the real Gemma 3 270M Q4_K_M GGUF, from
Hugging Face transformers, for tests/e2e/gemma3_golden_test.cpp.

The data in tests/data/ref/gemma3_* was made with exactly:

    python3 scripts/ref_gemma3.py "$FS_MODEL_GEMMA3" --out tests/data/ref

with FS_MODEL_GEMMA3 the file scripts/setup.sh assembles (its sha256 is recorded in the
outputs). Needs torch, transformers, gguf, numpy (scripts/requirements-ref.txt); CPU only.

The model goes through transformers' own GGUF path (from_pretrained(dir, gguf_file=name)):
every tensor dequantized to float32 by gguf-py, and the norm weights shifted back by -1
(llama.cpp's converter stores Gemma's (1 + w) norms as 1 + w; transformers' Gemma processor
undoes that), so this checks our reading of the file independently. Inference: float32, eval,
eager attention (sliding windows of 512 on 5 of every 6 layers), no KV cache for the logits.

This file is the pretrained (not instruction-tuned) 270M model and carries no chat template:
in Gemma 3's turn format ("<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n"
after <bos>) it repeats the question, so the greedy answer uses a plain completion prompt
("Question: ...\\nAnswer:"), which it answers with " Paris". The chat-format prompt stays in the
logits set. Ids come from transformers' tokenizer built from the GGUF; tests use the committed
ids. `--greedy-only` rewrites only gemma3_greedy.json (the logits prompts take minutes).

Outputs:
  gemma3_logits.json / .bin  per prompt: input ids, top-1 ids and margins at every position,
                             the logits of a fixed random vocabulary subset at every position
                             (float32 little-endian; layout in the json).
  gemma3_greedy.json         the question prompt's ids and transformers' 8 greedy tokens + text.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

SUBSET_SIZE = 256
SUBSET_SEED = 20261126
GREEDY_NEW_TOKENS = 8
CHAT_QUESTION = "What is the capital of France?"
ANSWER_PROMPT = f"Question: {CHAT_QUESTION}\nAnswer:"

# (name, text, length): short texts are extended with the model's own greedy continuation to
# `length` tokens; the long one crosses the 512-token sliding window.
PROMPTS = [
    ("raw_france", "The capital of France is", 64),
    ("chat_france", None, 64),
    ("long_window", "The history of lighthouses begins with fires lit on hilltops to guide ships home. "
     "Over the centuries, towers grew taller, lamps brighter and lenses more precise, until the "
     "Fresnel lens let a single flame be seen for miles. Keepers lived in isolation, trimming "
     "wicks and winding clockwork through long winter nights.", 600),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def chat_ids(tok):
    text = f"<start_of_turn>user\n{CHAT_QUESTION}<end_of_turn>\n<start_of_turn>model\n"
    return [tok.bos_token_id] + tok.encode(text, add_special_tokens=False)


def greedy(model, ids, n):
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, top_p=None, top_k=None)
    return out[0][len(ids):].tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--greedy-only", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    d, name = str(args.model.parent), args.model.name
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    vocab = model.config.vocab_size
    subset = np.sort(np.random.default_rng(SUBSET_SEED).choice(vocab, SUBSET_SIZE, replace=False))
    digest = sha256(args.model)

    blobs, prompts, offset = [], [], 0
    for pname, text, length in [] if args.greedy_only else PROMPTS:
        ids = chat_ids(tok) if text is None else [tok.bos_token_id] + tok.encode(text, add_special_tokens=False)
        if len(ids) < length:
            ids = ids + greedy(model, ids, length - len(ids))
        with torch.no_grad():
            logits = model(torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        top2 = np.sort(logits, axis=1)[:, -2:]
        margin = (top2[:, 1] - top2[:, 0]).astype("<f4")
        sub = np.ascontiguousarray(logits[:, subset]).astype("<f4")
        arrays = {}
        for key, arr in (("top1_margin", margin), ("subset_logits", sub)):
            arrays[key] = {"offset_bytes": offset, "shape": list(arr.shape)}
            blobs.append(arr.tobytes())
            offset += arr.nbytes
        prompts.append({"name": pname, "input_ids": ids, "top1_ids": logits.argmax(axis=1).tolist(),
                        "min_top1_margin": float(margin.min()), "arrays": arrays})
        print(f"{pname}: {len(ids)} tokens, min margin {margin.min():.3g}")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.greedy_only:
        write_logits(args.out, blobs, digest, vocab, subset, prompts)

    ids = [tok.bos_token_id] + tok.encode(ANSWER_PROMPT, add_special_tokens=False)
    new = greedy(model, ids, GREEDY_NEW_TOKENS)
    (args.out / "gemma3_greedy.json").write_text(json.dumps({
        "model_sha256": digest, "prompt": ANSWER_PROMPT, "input_ids": ids, "greedy_ids": new,
        "greedy_text": tok.decode(new, skip_special_tokens=False),
    }, indent=1) + "\n")
    print("greedy:", repr(tok.decode(new)))
    return 0


def write_logits(out, blobs, digest, vocab, subset, prompts):
    (out / "gemma3_logits.bin").write_bytes(b"".join(blobs))
    meta = {
        "layout": "gemma3_logits.bin: float32 little-endian arrays at arrays[*].offset_bytes; "
                  "subset_logits is [n_tokens, len(subset_ids)], top1_margin is [n_tokens]",
        "model_sha256": digest, "vocab_size": vocab, "subset_ids": subset.tolist(),
        "transformers_load": "AutoModelForCausalLM.from_pretrained(gguf_file=...), float32, eager",
        "prompts": prompts,
    }
    (out / "gemma3_logits.json").write_text(json.dumps(meta) + "\n")


if __name__ == "__main__":
    sys.exit(main())
