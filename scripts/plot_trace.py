#!/usr/bin/env python3
"""Plots a flashstream per-layer timeline (the CSV written by `--trace FILE`): for each layer
pass, the read of its weights (streamed layers) and its compute, so the overlap of I/O with
compute is visible.

    python3 scripts/plot_trace.py TRACE.csv OUT.png [--tokens N] [--title TEXT]
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--tokens", type=int, default=3, help="forward passes to show (from the end)")
    ap.add_argument("--title", default="flashstream: per-layer I/O and compute")
    args = ap.parse_args()
    rows = [dict((k, float(v)) for k, v in r.items()) for r in csv.DictReader(open(args.trace))]
    if not rows:
        raise SystemExit("empty trace")
    n_layers = int(max(r["layer"] for r in rows)) + 1
    rows = rows[-args.tokens * n_layers:]
    t0 = min(min(r["compute_begin"], r["io_begin"] or r["compute_begin"]) for r in rows)
    fig, ax = plt.subplots(figsize=(12, 0.18 * n_layers + 2))
    for r in rows:
        y = r["layer"]
        if r["io_end"] > 0:
            ax.barh(y - 0.2, (r["io_end"] - r["io_begin"]) * 1e3, left=(r["io_begin"] - t0) * 1e3,
                    height=0.4, color="tab:orange")
        ax.barh(y + 0.2, (r["compute_end"] - r["compute_begin"]) * 1e3, left=(r["compute_begin"] - t0) * 1e3,
                height=0.4, color="tab:blue")
    handles = [Patch(color="tab:orange", label="read of the layer's weights (O_DIRECT)"),
               Patch(color="tab:blue", label="compute of the layer")]
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("layer")
    ax.invert_yaxis()
    ax.set_title(args.title)
    ax.legend(handles=handles, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
