#!/usr/bin/env python3
"""Plots bench_moe_replay's JSON: hit rate and expert bytes read per token against cache size,
one line per replacement policy (and Belady's bound).

    bench/plot_moe_replay.py replay.json docs/moe_cache.png [--title TEXT]
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("replay")
    ap.add_argument("png")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    with open(a.replay) as f:
        data = json.load(f)
    policies = []
    for r in data["results"]:
        if r["policy"] not in policies:
            policies.append(r["policy"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for p in policies:
        rows = sorted((r for r in data["results"] if r["policy"] == p), key=lambda r: r["slots"])
        x = [100 * r["cache_fraction"] for r in rows]
        style = "k--" if p == "belady" else "o-"
        ax1.plot(x, [100 * r["hit_rate"] for r in rows], style, label=p)
        ax2.plot(x, [r["mib_per_token"] for r in rows], style, label=p)
    ax1.set_xlabel("cache size (% of routed experts)")
    ax1.set_ylabel("hit rate (%)")
    ax2.set_xlabel("cache size (% of routed experts)")
    ax2.set_ylabel("expert MiB read per token")
    ax1.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    ax1.legend()
    fig.suptitle(a.title or data["trace"])
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)


if __name__ == "__main__":
    main()
