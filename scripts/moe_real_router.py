#!/usr/bin/env python3
"""Lookahead-routing predictability on real activations: a dense checkpoint's FFNs split into
experts, with routers fitted to the real activations (issue 8).

Every figure this script prints is labelled "SmolLM2 FFNs split into experts, routers fitted to
real activations" (when run on SmolLM2): the experts are slices of a dense model's FFN, not
experts trained as such, and the routers are least-squares fits, not trained routers.

Method, per configuration E x k (E experts of n_ff / E rows, top-k):
  1. Run real text through the dense model (transformers, weights dequantized from the GGUF),
     windows of --window tokens. For each token and layer record the FFN input x (the normed
     residual the engine's MoeBlock gets) and, per expert chunk c of the intermediate
     dimension, the norm of that chunk's contribution to the FFN output,
     |down[:, c] (silu(gate[c] x) * up[c] x)|.
  2. On the first half of the tokens fit each layer's router R_l [E, n_embd] by ridge least
     squares from x to the log chunk norms, centred per token (softmax and top-k ignore a
     per-token shift). The MoE model routes token t at layer l to top-k(R_l x_l).
  3. On the second half, per token (one decode pass), as the engine's lookahead does
     (models/moe_block.cpp): layer l+1's router applied to layer l's FFN input predicts layer
     l+1's experts; precision = predicted experts the routing chose / predicted, recall = / routed
     (equal here: k of each per token). Also: how well the fitted router matches the chunks
     that really contribute most (router fit), the temporal reuse (experts of token t also used
     by token t-1 at the same layer), and next-token predictions of layer 0's experts (token
     t's layer-0 experts again; layer 0's router on token t's last FFN input; on the normed
     embedding of token t+1).
  4. Writes, per configuration, the evaluation half's routing as a bench_moe_replay trace (pass 0
     = the first 32 evaluation tokens, then one pass per token) and, with --gguf-out, a
     Mixtral-style GGUF (arch llama + expert_count) the engine runs: every tensor of the source
     copied as is, each layer's FFN replaced by stacked experts cut from the source's quantized
     bytes (gate/up rows, down columns; no requantization) and the fitted router as F32. With
     top-k renormalized softmax weights summing to 1, each expert's down matrix is scaled by k
     (exactly, on the block scales: k is a power of two), so k equal weights sum the chunks as
     the dense FFN does.

Made the committed results with (GPL-3 text from Debian's common-licenses):

    python3 scripts/moe_real_router.py --model SmolLM2-135M-Instruct.Q4_1.gguf \
        --text /usr/share/common-licenses/GPL-3 --configs 16x4,8x2 \
        --json bench/results/moe_real_router_smollm2.json --trace-dir /tmp \
        --gguf-out /tmp/smollm2-moe16x4.gguf --gguf-config 16x4

Needs torch, transformers, gguf, numpy (scripts/requirements-ref.txt). CPU only.
"""

import argparse
import json
import os
from pathlib import Path

import gguf
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

LABEL = "SmolLM2 FFNs split into experts, routers fitted to real activations"


def parse_configs(s):
    out = []
    for item in s.split(","):
        e, k = item.lower().split("x")
        out.append((int(e), int(k)))
    return out


def collect(model, ids, window):
    """Per layer: FFN inputs x [T, d] and the FFN's intermediate h [T, n_ff] (chunk norms come
    from h and the down matrix). Also the final layer's FFN input and the normed embeddings."""
    layers = model.model.layers
    xs = [[] for _ in layers]
    hs = [[] for _ in layers]

    def hook(i):
        def f(mlp, inputs, _out):
            x = inputs[0][0]
            xs[i].append(x.detach().float().clone())
            hs[i].append((mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x)).detach().float().clone())
        return f

    handles = [layer.mlp.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    with torch.no_grad():
        for s in range(0, len(ids), window):
            chunk = torch.tensor([ids[s:s + window]])
            model(chunk)
    for h in handles:
        h.remove()
    return [torch.cat(x) for x in xs], [torch.cat(h) for h in hs]


def chunk_norms(h, down, n_expert):
    """[T, E] norms of each expert chunk's contribution down[:, c] h[:, c]."""
    t, n_ff = h.shape
    f = n_ff // n_expert
    hr = h.reshape(t, n_expert, f)
    wr = down.reshape(down.shape[0], n_expert, f)  # [d, E, f]
    out = torch.empty(t, n_expert)
    for e in range(n_expert):
        out[:, e] = (hr[:, e, :] @ wr[:, e, :].T).norm(dim=1)
    return out


def fit_router(x, norms, ridge):
    """Ridge least squares R [E, d]: R x ~ log(norm), centred per token."""
    y = torch.log(norms.clamp_min(1e-12))
    y = y - y.mean(dim=1, keepdim=True)
    x64 = x.double()
    a = x64.T @ x64 + ridge * torch.eye(x.shape[1], dtype=torch.float64) * x64.pow(2).sum(0).mean()
    w = torch.linalg.solve(a, x64.T @ y.double())  # [d, E]
    return w.T.float().contiguous()


def topk(scores, k):
    return torch.topk(scores, k, dim=1).indices


def overlap(a, b):
    """Mean fraction of a's k ids (per row) that are in b's row."""
    hits = (a.unsqueeze(2) == b.unsqueeze(1)).any(dim=2).float()
    return hits.mean().item()


def evaluate(xs, hs, downs, post_norm0, emb_eval, e, k, ridge, n_fit):
    n_layers = len(xs)
    routers, routed, fit_acc = [], [], []
    for l in range(n_layers):
        norms = chunk_norms(hs[l], downs[l], e)
        r = fit_router(xs[l][:n_fit], norms[:n_fit], ridge)
        routers.append(r)
        sel = topk(xs[l][n_fit:] @ r.T, k)
        routed.append(sel)
        fit_acc.append(overlap(sel, topk(norms[n_fit:], k)))
    look = []
    for l in range(1, n_layers):
        pred = topk(xs[l - 1][n_fit:] @ routers[l].T, k)
        look.append(overlap(pred, routed[l]))
    reuse = [overlap(routed[l][1:], routed[l][:-1]) for l in range(n_layers)]
    # Next token's layer 0 (predicting token t+1 from what is known after token t, or at the
    # start of pass t+1 for the embedding).
    r0_next = routed[0][1:]
    next_same = overlap(routed[0][:-1], r0_next)
    next_last = overlap(topk(xs[-1][n_fit:-1] @ routers[0].T, k), r0_next)
    next_emb = overlap(topk(post_norm0(emb_eval[1:]) @ routers[0].T, k), r0_next)
    mean = lambda v: float(np.mean(v))  # noqa: E731
    return routers, routed, {
        "label": LABEL,
        "experts": e,
        "top_k": k,
        "expert_rows": hs[0].shape[1] // e,
        "random_baseline": k / e,
        "router_fit_topk_overlap": mean(fit_acc),
        "router_fit_per_layer": fit_acc,
        "lookahead_precision": mean(look),
        "lookahead_recall": mean(look),
        "lookahead_per_layer": look,
        "temporal_reuse_prev_token": mean(reuse),
        "temporal_reuse_per_layer": reuse,
        "next_token_layer0": {
            "same_as_previous_token": next_same,
            "layer0_router_on_last_ffn_input": next_last,
            "layer0_router_on_next_embedding": next_emb,
        },
    }


def write_trace(path, routed, n_expert, k, warm=32):
    """bench_moe_replay's format (its one header line, then "pass layer experts...")."""
    n_layers = len(routed)
    with open(path, "w") as f:
        f.write(f"# n_layers {n_layers} n_expert {n_expert} n_expert_used {k}\n")
        t_all = routed[0].shape[0]
        for l in range(n_layers):
            ids = sorted(set(routed[l][:warm].flatten().tolist()))
            f.write("0 %d %s\n" % (l, " ".join(map(str, ids))))
        for t in range(warm, t_all):
            for l in range(n_layers):
                ids = sorted(set(routed[l][t].tolist()))
                f.write("%d %d %s\n" % (t - warm + 1, l, " ".join(map(str, ids))))


def copy_fields(reader, writer, overrides):
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name in overrides:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for name, (val, vtype) in overrides.items():
        writer.add_key_value(name, val, vtype)


def scale_q4_1(blocks, s):
    """Q4_1 blocks (..., 20 bytes: f16 d, f16 m, 16 bytes of nibbles) scaled by s (d and m)."""
    out = blocks.copy()
    dm = out[..., :4].copy().view(np.float16)
    dm *= np.float16(s)
    out[..., :4] = dm.view(np.uint8)
    return out


def write_gguf(src, dst, routers, e, k):
    reader = gguf.GGUFReader(src)
    arch = "llama"
    tensors = {t.name: t for t in reader.tensors}
    n_layers = len(routers)
    n_ff = int(tensors["blk.0.ffn_gate.weight"].shape[1])
    f = n_ff // e
    u32 = gguf.GGUFValueType.UINT32
    overrides = {f"{arch}.expert_count": (e, u32), f"{arch}.expert_used_count": (k, u32),
                 f"{arch}.feed_forward_length": (f, u32), f"{arch}.expert_feed_forward_length": (f, u32)}
    writer = gguf.GGUFWriter(dst, arch)
    copy_fields(reader, writer, overrides)
    q = gguf.GGMLQuantizationType.Q4_1
    for t in reader.tensors:
        name = t.name
        parts = name.split(".")
        if len(parts) == 4 and parts[2] in ("ffn_gate", "ffn_up", "ffn_down"):
            if t.tensor_type != q:
                raise SystemExit(f"{src}: {name} is {t.tensor_type.name}, this writer slices Q4_1 only")
            l = int(parts[1])
            raw = np.asarray(t.data)  # [rows, row bytes]
            if parts[2] == "ffn_down":  # [d rows, n_ff cols]: expert e = columns e*f..(e+1)*f
                bpe = f // 32
                blocks = raw.reshape(raw.shape[0], n_ff // 32, 20)
                stacked = np.stack([scale_q4_1(blocks[:, i * bpe:(i + 1) * bpe], k) for i in range(e)])
                stacked = stacked.reshape(e, raw.shape[0], bpe * 20)
                writer.add_tensor(f"blk.{l}.ffn_down_exps.weight", np.ascontiguousarray(stacked), raw_dtype=q)
            else:  # [n_ff rows, d cols]: expert e = rows e*f..(e+1)*f
                stacked = raw.reshape(e, f, raw.shape[1])
                writer.add_tensor(f"blk.{l}.{parts[2]}_exps.weight", np.ascontiguousarray(stacked), raw_dtype=q)
                if parts[2] == "ffn_gate":
                    writer.add_tensor(f"blk.{l}.ffn_gate_inp.weight", routers[l].numpy().astype(np.float32))
            continue
        data = np.asarray(t.data)
        if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="dense llama-architecture GGUF (Q4_1 FFNs for --gguf-out)")
    ap.add_argument("--text", required=True)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--configs", default="16x4,8x2")
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--json", required=True)
    ap.add_argument("--trace-dir")
    ap.add_argument("--gguf-out")
    ap.add_argument("--gguf-config", default="16x4")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    model_dir, model_file = os.path.split(os.path.abspath(args.model))
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, dtype=torch.float32)
    model.eval()
    ids = tok(Path(args.text).read_text())["input_ids"][:args.tokens]
    n = len(ids)
    n_fit = n // 2
    xs, hs = collect(model, ids, args.window)
    downs = [layer.mlp.down_proj.weight.detach().float() for layer in model.model.layers]
    norm0 = model.model.layers[0].post_attention_layernorm
    emb_eval = model.model.embed_tokens.weight.detach()[torch.tensor(ids[n_fit:])]
    post_norm0 = lambda v: norm0(v).detach()  # noqa: E731
    results = {"label": LABEL, "model": model_file, "text": os.path.basename(args.text), "tokens": n,
               "fit_tokens": n_fit, "eval_tokens": n - n_fit, "window": args.window, "ridge": args.ridge,
               "configs": []}
    for e, k in parse_configs(args.configs):
        routers, routed, r = evaluate(xs, hs, downs, post_norm0, emb_eval, e, k, args.ridge, n_fit)
        results["configs"].append(r)
        print(f"{e}x{k}: router fit {r['router_fit_topk_overlap']:.3f}, lookahead precision/recall "
              f"{r['lookahead_precision']:.3f} (random {k / e:.3f}), reuse {r['temporal_reuse_prev_token']:.3f}, "
              f"next-token layer 0 {r['next_token_layer0']}")
        if args.trace_dir:
            write_trace(Path(args.trace_dir) / f"moe_real_router_trace_{e}x{k}.txt", routed, e, k)
        if args.gguf_out and args.gguf_config == f"{e}x{k}":
            write_gguf(args.model, args.gguf_out, routers, e, k)
            print(f"wrote {args.gguf_out}")
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
