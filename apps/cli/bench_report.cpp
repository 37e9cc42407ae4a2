#include "bench_report.h"

#include <fmt/format.h>  // the Markdown text

namespace flashstream::cli {
namespace {

using nlohmann::json;

double MiB(const json& v) { return v.get<double>() / 1048576.0; }

constexpr std::string_view kPlots = R"PY(#!/usr/bin/env python3
"""Draws the plots of a `flashstream bench` run from bench.json and trace.csv (this folder)."""
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
bench = json.load(open(os.path.join(here, "bench.json")))

# Achieved rates against the limits measured in the same run.
fig, ax = plt.subplots(figsize=(7, 3.2))
names = ["decode tok/s", "weights GB/s (decode)"]
achieved = [bench["decode"]["tokens_per_second"], bench["decode"]["weight_gbps"]]
limits = [bench["decode"]["limit_tokens_per_second"], bench["decode"]["limit_weight_gbps"]]
y = range(len(names))
ax.barh([i + 0.2 for i in y], limits, height=0.4, color="lightgray", label="limit (measured bandwidths)")
ax.barh([i - 0.2 for i in y], achieved, height=0.4, color="tab:blue", label="achieved")
ax.set_yticks(list(y), names)
ax.invert_yaxis()
ax.legend(loc="lower right")
ax.set_title(f"decode: {bench['decode']['ratio_to_limit']:.2f} of the {bench['decode']['bound']}-bound limit")
fig.tight_layout()
fig.savefig(os.path.join(here, "throughput.png"), dpi=110)

# Mean read, wait and compute per layer and pass.
layers = bench["layers"]
if layers:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    x = range(len(layers))
    for key, color, label, off in (("read_ms", "tab:orange", "read", -0.27), ("wait_ms", "tab:red", "compute waited", 0),
                                   ("compute_ms", "tab:blue", "compute", 0.27)):
        ax.bar([i + off for i in x], [l[key] for l in layers], width=0.27, color=color, label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel("ms per pass")
    ax.legend()
    ax.set_title("per layer (streamed layers are read every pass)")
    fig.tight_layout()
    fig.savefig(os.path.join(here, "layers.png"), dpi=110)

# Timeline of the last passes: each layer's read and compute.
rows = [dict((k, float(v)) for k, v in r.items()) for r in csv.DictReader(open(os.path.join(here, "trace.csv")))]
if rows:
    n_layers = int(max(r["layer"] for r in rows)) + 1
    rows = rows[-3 * n_layers:]
    t0 = min(min(r["compute_begin"], r["io_begin"] or r["compute_begin"]) for r in rows)
    fig, ax = plt.subplots(figsize=(12, 0.18 * n_layers + 2))
    for r in rows:
        if r["io_end"] > 0:
            ax.barh(r["layer"] - 0.2, (r["io_end"] - r["io_begin"]) * 1e3, left=(r["io_begin"] - t0) * 1e3, height=0.4,
                    color="tab:orange")
        ax.barh(r["layer"] + 0.2, (r["compute_end"] - r["compute_begin"]) * 1e3,
                left=(r["compute_begin"] - t0) * 1e3, height=0.4, color="tab:blue")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("layer (orange: read, blue: compute)")
    ax.invert_yaxis()
    ax.set_title("per-layer I/O and compute, last 3 passes")
    fig.tight_layout()
    fig.savefig(os.path.join(here, "timeline.png"), dpi=110)
)PY";

}  // namespace

std::string_view BenchPlotScript() { return kPlots; }

std::string BenchMarkdown(const json& b, bool plots) {
  const json& d = b["decode"];
  const json& p = b["prefill"];
  const json& l = b["limits"];
  const json& m = b["memory"];
  std::string md = fmt::format("# flashstream bench: {}\n\n", b["model"].get<std::string>());
  md += fmt::format(
      "{} threads, backend {}, weight budget {}. Limits measured in the same run: memory read "
      "{:.1f} GB/s, disk (O_DIRECT) {:.2f} GB/s.\n\n",
      b["threads"].get<int>(), b["backend"].get<std::string>(), b["plan"].get<std::string>(),
      l["memory_gbps"].get<double>(), l["disk_gbps"].get<double>());
  md += "| | value | limit | ratio |\n| --- | --- | --- | --- |\n";
  md += fmt::format("| load | {:.2f} s | | |\n", b["load_seconds"].get<double>());
  md += fmt::format("| prefill ({} tokens) | {:.1f} tok/s | | |\n", p["tokens"].get<int>(),
                    p["tokens_per_second"].get<double>());
  md += fmt::format("| decode ({} tokens) | {:.2f} tok/s | {:.2f} tok/s ({}-bound) | **{:.2f}** |\n",
                    d["tokens"].get<int>(), d["tokens_per_second"].get<double>(),
                    d["limit_tokens_per_second"].get<double>(), d["bound"].get<std::string>(),
                    d["ratio_to_limit"].get<double>());
  md += fmt::format("| weight bytes per pass | {:.1f} MiB ({:.1f} MiB read from disk) | | |\n",
                    MiB(d["weight_bytes_per_pass"]), MiB(d["disk_bytes_per_pass"]));
  md += fmt::format("| weights at decode | {:.2f} GB/s | {:.2f} GB/s | |\n", d["weight_gbps"].get<double>(),
                    d["limit_weight_gbps"].get<double>());
  md += fmt::format("| compute waited on I/O | {:.0f} % of the run | | |\n", 100 * b["io_wait_fraction"].get<double>());
  md +=
      fmt::format("| peak RSS | {:.0f} MiB (weights resident {:.0f} MiB, staging {:.0f} MiB, KV {:.1f} MiB) | | |\n\n",
                  MiB(m["peak_rss_bytes"]), MiB(m["resident_bytes"]), MiB(m["staging_bytes"]), MiB(m["kv_bytes"]));
  md +=
      "The decode limit is the slower of two tiers per token: all weight bytes of a pass at the memory "
      "bandwidth, and the streamed ones at the disk bandwidth.\n\n";
  if (plots) {
    md += "![throughput](throughput.png)\n\n![layers](layers.png)\n\n![timeline](timeline.png)\n";
  } else {
    md += "No plots: `python3 plots.py` in this folder draws them (needs matplotlib).\n";
  }
  return md;
}

}  // namespace flashstream::cli
