// The report of `flashstream bench`: the measured run as JSON, a Markdown page, and the Python
// (matplotlib) script that draws its PNG plots from bench.json and trace.csv.
#pragma once

#include <nlohmann/json.hpp>  // the benchmark's record
#include <string>
#include <string_view>

namespace flashstream::cli {

// report.md for the record `bench` (the bench.json object); `plots` says whether the PNGs exist.
std::string BenchMarkdown(const nlohmann::json& bench, bool plots);

// plots.py: reads bench.json and trace.csv from its own folder and writes timeline.png
// (per-layer I/O vs compute of the last passes), throughput.png (achieved vs limit) and
// layers.png (mean read, wait and compute per layer).
std::string_view BenchPlotScript();

}  // namespace flashstream::cli
