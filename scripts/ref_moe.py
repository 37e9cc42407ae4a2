#!/usr/bin/env python3
"""Tiny random-weight mixture-of-experts models (Mixtral, Qwen3-MoE, Qwen2-MoE) with reference
logits from Hugging Face transformers, for tests/models/moe_reference_test.cpp.

The data in tests/data/moe/ was made with exactly:

    python3 scripts/ref_moe.py --out tests/data/moe

Needs what scripts/ref_arch.py needs (scripts/requirements-ref.txt); CPU is enough, CI never
runs this. Deterministic: a fixed seed per architecture.

Per model, in tests/data/moe/<name>/:

  config.json, model.safetensors  the checkpoint in the layout released models use (Mixtral:
                                  block_sparse_moe.gate, block_sparse_moe.experts.E.w1/w2/w3;
                                  Qwen: mlp.gate, mlp.experts.E.{gate,up,down}_proj,
                                  mlp.shared_expert.*, mlp.shared_expert_gate), with
                                  "rope_theta" at the top level as released configs have it.
                                  The script reloads it with transformers and checks that the
                                  logits are unchanged.
  model.gguf                      the same weights as GGUF F32 with llama.cpp's names: stacked
                                  blk.N.ffn_{gate,up,down}_exps [n_expert, rows, cols], router
                                  blk.N.ffn_gate_inp, shared expert *_shexp with its gate
                                  ffn_gate_inp_shexp as [n_embd]; Mixtral is arch "llama" with
                                  llama.expert_count, its Q/K rows permuted as for llama.
  ref.json, ref_logits.bin        as scripts/ref_arch.py, plus "min_router_gap": the smallest
                                  gap, over layers and positions, between the k-th and the
                                  (k+1)-th router probability (a gap near the f32 error would
                                  let rounding change the chosen experts).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ref_arch  # noqa: E402  (shared GGUF metadata, rope permutation, layer names)

N_TOKENS = 72
VOCAB = ref_arch.VOCAB
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=256, rms_norm_eps=1e-6, num_hidden_layers=2,
              tie_word_embeddings=False, rope_theta=1000000.0)

# name -> (config class, kwargs, GGUF architecture, HF expert layout)
MODELS = {
    # 8 experts, top-2, renormalized; expert width = intermediate_size.
    "mixtral": (transformers.MixtralConfig,
                dict(COMMON, intermediate_size=32, num_local_experts=8, num_experts_per_tok=2,
                     sliding_window=None),
                "llama", "mixtral"),
    # QK-norm, 8 experts, top-3, norm_topk_prob; q width 128 != hidden 64.
    "qwen3moe": (transformers.Qwen3MoeConfig,
                 dict(COMMON, head_dim=32, intermediate_size=96, moe_intermediate_size=32,
                      num_experts=8, num_experts_per_tok=3, norm_topk_prob=True),
                 "qwen3moe", "qwen"),
    # q/k/v biases, 8 experts top-2 without renormalization, a shared expert (width 64) with a
    # sigmoid gate.
    "qwen2moe": (transformers.Qwen2MoeConfig,
                 dict(COMMON, intermediate_size=96, moe_intermediate_size=32, num_experts=8,
                      num_experts_per_tok=2, norm_topk_prob=False,
                      shared_expert_intermediate_size=64),
                 "qwen2moe", "qwen"),
}
# Seeds chosen so that no router decision is closer than 1e-4 in probability (min_router_gap),
# far above the f32 rounding of either side (~1e-7).
SEEDS = {"mixtral": 20261208, "qwen3moe": 20261209, "qwen2moe": 20261221}
EXPERT_NAMES = {"mixtral": ("block_sparse_moe", {"gate": "w1", "up": "w3", "down": "w2"}),
                "qwen": ("mlp", {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"})}


def randomize(model, seed):
    """Seeded weights: matrices N(0, 1/fan_in) (fan_in = last dim), norms near 1, small biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif "embed_tokens" in name:
                p.copy_(noise)
            else:
                p.copy_(noise / np.sqrt(p.shape[-1]))


def experts_of(state, layer):
    """Per-expert (gate, up, down) matrices from transformers' fused expert parameters."""
    gate_up = state[f"model.layers.{layer}.mlp.experts.gate_up_proj"]  # [E, 2 * ff, hidden]
    down = state[f"model.layers.{layer}.mlp.experts.down_proj"]  # [E, hidden, ff]
    ff = down.shape[2]
    return [(gate_up[e, :ff], gate_up[e, ff:], down[e]) for e in range(gate_up.shape[0])]


def released_state(model, layout):
    """The state dict under the names released checkpoints use (one tensor per expert)."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out = {}
    prefix, kinds = EXPERT_NAMES[layout]
    for layer in range(model.config.num_hidden_layers):
        for e, mats in enumerate(experts_of(state, layer)):
            for kind, m in zip(("gate", "up", "down"), mats):
                out[f"model.layers.{layer}.{prefix}.experts.{e}.{kinds[kind]}.weight"] = m.contiguous()
    for k, v in state.items():
        if ".mlp.experts." in k:
            continue
        if layout == "mixtral" and ".mlp.gate." in k:
            k = k.replace(".mlp.gate.", ".block_sparse_moe.gate.")
        out[k] = v
    return out


MOE_GGUF = {"mlp.gate": "ffn_gate_inp", "mlp.shared_expert.gate_proj": "ffn_gate_shexp",
            "mlp.shared_expert.up_proj": "ffn_up_shexp", "mlp.shared_expert.down_proj": "ffn_down_shexp",
            "mlp.shared_expert_gate": "ffn_gate_inp_shexp"}


def write_gguf(path, model, arch):
    cfg = model.config
    w = gguf.GGUFWriter(str(path), arch)
    ref_arch.add_gguf_metadata(w, cfg, arch, gemma=False)
    n_expert = getattr(cfg, "num_local_experts", None) or cfg.num_experts
    w.add_expert_count(n_expert)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    if hasattr(cfg, "moe_intermediate_size"):
        w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    if getattr(cfg, "shared_expert_intermediate_size", 0):
        w.add_expert_shared_feed_forward_length(cfg.shared_expert_intermediate_size)
    permute = arch == "llama"
    state = {k: v.detach() for k, v in model.state_dict().items()}
    for name, p in state.items():
        if ".mlp.experts." in name:
            continue
        t = p.numpy().astype(np.float32)
        parts = name.split(".")
        module = ".".join(parts[3:-1])
        if module in MOE_GGUF:
            out = f"blk.{parts[2]}.{MOE_GGUF[module]}.{parts[-1]}"
            if module == "mlp.shared_expert_gate":
                t = t.reshape(-1)  # [n_embd], as llama.cpp expects
        else:
            out = ref_arch.gguf_name(name, False)
        if permute and (".attn_q." in out or ".attn_k." in out):
            heads = cfg.num_attention_heads if ".attn_q." in out else cfg.num_key_value_heads
            t = ref_arch.permute_rope_rows(t, heads)
        w.add_tensor(out, np.ascontiguousarray(t))
    for layer in range(cfg.num_hidden_layers):
        mats = experts_of(state, layer)
        for i, kind in enumerate(("gate", "up", "down")):
            stacked = np.stack([m[i].numpy().astype(np.float32) for m in mats])  # [E, rows, cols]
            w.add_tensor(f"blk.{layer}.ffn_{kind}_exps.weight", np.ascontiguousarray(stacked))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def router_gap(model, ids, k):
    """Smallest p_(k) - p_(k+1) over layers and positions (router probabilities, sorted)."""
    gaps = []
    hooks = [layer.mlp.gate.register_forward_hook(
        lambda _m, _i, out: gaps.append(out[0] if isinstance(out, tuple) else out))
        for layer in model.model.layers]
    with torch.no_grad():
        model(torch.tensor([ids]), use_cache=False)
    for h in hooks:
        h.remove()
    best = float("inf")
    for logits in gaps:
        probs = torch.softmax(logits.reshape(len(ids), -1).double(), dim=-1)
        top = torch.sort(probs, dim=-1, descending=True).values
        best = min(best, float((top[:, k - 1] - top[:, k]).min()))
    return best


def make(name, out_dir, seed):
    """Writes tests/data/moe/<name>/ from a model seeded with `seed`."""
    cls, kwargs, arch, layout = MODELS[name]
    torch.manual_seed(seed)
    cfg = cls(**kwargs)
    model = transformers.AutoModelForCausalLM.from_config(
        cfg, attn_implementation="eager", experts_implementation="eager").float().eval()
    randomize(model, seed)
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(d)
    conf = json.loads((d / "config.json").read_text())
    conf["rope_theta"] = kwargs["rope_theta"]
    (d / "config.json").write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n")
    save_file(released_state(model, layout), str(d / "model.safetensors"))
    write_gguf(d / "model.gguf", model, arch)

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, size=N_TOKENS).tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        reloaded = transformers.AutoModelForCausalLM.from_pretrained(
            d, attn_implementation="eager", experts_implementation="eager").float().eval()
        again = reloaded(torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        assert np.array_equal(logits, again), f"{name}: the saved checkpoint does not reload to the same logits"
        gap = router_gap(model, ids, cfg.num_experts_per_tok)
        logits64 = model.to(torch.float64)(torch.tensor([ids]), use_cache=False).logits[0].numpy()
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
        "min_router_gap": gap,
    }
    (d / "ref.json").write_text(json.dumps(ref, indent=1) + "\n")
    print(f"{name}: min margin {margins.min():.4g}, fp32 vs fp64 {ref['max_abs_fp32_vs_fp64']:.3g}, "
          f"min router gap {gap:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    for name in MODELS:
        if name in args.only:
            make(name, args.out, SEEDS[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
