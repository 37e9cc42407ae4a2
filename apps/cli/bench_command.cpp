// `flashstream bench`: one measured run of a model, written to a folder as bench.json,
// trace.csv, report.md and PNG plots (drawn by plots.py with matplotlib when it is available):
// load time, prefill and decode tok/s, weight bytes per pass, the memory and disk bandwidths
// measured in the same run and the decode limit they set, memory peaks, per-layer I/O vs compute.
#include <fmt/format.h>  // messages

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>  // bench.json
#include <thread>

#include "backend/cpu/membw.h"  // memory read bandwidth, measured in the same run
#include "bench_report.h"
#include "cli_options.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "io/bandwidth_probe.h"  // disk O_DIRECT bandwidth, measured in the same run

namespace flashstream::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BenchState {
  EngineOptions engine;
  int prompt_tokens = 128;
  int gen_tokens = 32;
  std::string out = "flashstream-bench";
  bool no_plots = false;
};

// A prompt of exactly n tokens: ordinary text, repeated as needed.
std::vector<int32_t> MakePrompt(const Tokenizer& tok, int n) {
  const std::vector<int32_t> text = tok.Encode(
      "The history of computing is a story of machines that remember, calculate and communicate. ", false, false);
  std::vector<int32_t> ids = tok.Encode("", true, false);  // BOS when the model wants one
  while (static_cast<int>(ids.size()) < n) ids.insert(ids.end(), text.begin(), text.end());
  ids.resize(n);
  return ids;
}

bool WriteFile(const fs::path& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  return static_cast<bool>(f);
}

int Bench(BenchState& st) {
  std::error_code ec;
  fs::create_directories(st.out, ec);
  if (ec) {
    PrintError(fmt::format("{}: cannot create the output folder: {}", st.out, ec.message()));
    return 1;
  }
  st.engine.trace_path = (fs::path(st.out) / "trace.csv").string();
  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  if (st.prompt_tokens + st.gen_tokens >= session->context_length()) {
    PrintError(fmt::format("--prompt-tokens {} + --gen-tokens {} exceed the context of {} tokens (raise --ctx)",
                           st.prompt_tokens, st.gen_tokens, session->context_length()));
    return 2;
  }
  GenerateOptions g;
  g.max_tokens = st.gen_tokens;
  g.ignore_eos = true;
  g.sampling.temperature = 0;
  fmt::print(stderr, "flashstream: prefill {} tokens, decode {}\n", st.prompt_tokens, st.gen_tokens);
  Result<RunStats> run = session->Generate(MakePrompt(session->tokenizer(), st.prompt_tokens), g, nullptr);
  if (!run.ok()) {
    PrintError(run.status().message());
    return 1;
  }
  const RunStats& s = run.value();
  if (Status traced = session->WriteTrace(st.engine.trace_path); !traced.ok()) {
    WriteFile(st.engine.trace_path, "layer,io_begin,io_end,compute_begin,compute_end\n");  // --mmap keeps none
  }

  const int threads =
      st.engine.threads > 0 ? st.engine.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The limits, measured after the run so that the probes' buffers stay out of its peak RSS.
  fmt::print(stderr, "flashstream: measuring memory and disk bandwidth\n");
  double mem_gbps = 0;
  {
    ThreadPool pool(threads);
    mem_gbps = MeasureReadBandwidthGBps(pool, 256ull << 20, 3);
  }
  const std::string& file = session->index().files.front();
  const uint64_t probe_bytes = std::min<uint64_t>(fs::file_size(file, ec), 512ull << 20);
  Result<double> disk = ProbeReadGBps(file, DirectReaderOptions{}, probe_bytes, 64ull << 20);
  const double disk_gbps = disk.ok() ? *disk : 0;

  // Bytes per pass: all weights touched, and those read from disk.
  uint64_t weight_bytes = 0;
  for (const TensorInfo& t : session->index().tensors) weight_bytes += t.bytes;
  const int passes = 1 + s.decode_passes;
  const double disk_per_pass = static_cast<double>(s.store.bytes_read) / passes;
  // The slower tier bounds a decode pass: every weight byte through memory, the streamed ones from disk.
  const double t_mem = weight_bytes / (mem_gbps * 1e9);
  const double t_disk = disk_gbps > 0 ? disk_per_pass / (disk_gbps * 1e9) : 0;
  const double pass_limit = std::max(t_mem, t_disk);
  const double limit_tps = pass_limit > 0 ? s.tokens_per_pass() / pass_limit : 0;
  const double decode_tps = s.decode_tps();
  const double secs = s.prefill_seconds + s.decode_seconds;

  json layers = json::array();
  for (const LayerTiming& t : s.store.layers) {
    const double n = std::max(t.passes, 1);
    layers.push_back({{"streamed", t.streamed},
                      {"bytes", t.bytes},
                      {"read_ms", 1e3 * t.io_seconds / n},
                      {"wait_ms", 1e3 * t.wait_seconds / n},
                      {"compute_ms", 1e3 * t.compute_seconds / n}});
  }
  const json bench = {
      {"model", session->options().model_path},
      {"threads", threads},
      {"backend", session->backend_name()},
      {"plan", st.engine.use_mmap          ? std::string("mmap")
               : session->plan().streams() ? fmt::format("{:.2f} GiB (streaming)", st.engine.ram_gib)
                                           : std::string("fully resident")},
      {"limits", {{"memory_gbps", mem_gbps}, {"disk_gbps", disk_gbps}}},
      {"load_seconds", session->load_seconds()},
      {"prefill",
       {{"tokens", s.prompt_tokens}, {"seconds", s.prefill_seconds}, {"tokens_per_second", s.prefill_tps()}}},
      {"decode",
       {{"tokens", s.generated_tokens},
        {"passes", s.decode_passes},
        {"seconds", s.decode_seconds},
        {"tokens_per_second", decode_tps},
        {"weight_bytes_per_pass", weight_bytes},
        {"disk_bytes_per_pass", disk_per_pass},
        {"weight_gbps", decode_tps * weight_bytes / s.tokens_per_pass() / 1e9},
        {"limit_weight_gbps", pass_limit > 0 ? weight_bytes / pass_limit / 1e9 : 0},
        {"limit_tokens_per_second", limit_tps},
        {"ratio_to_limit", limit_tps > 0 ? decode_tps / limit_tps : 0},
        {"bound", t_disk > t_mem ? "disk" : "memory"}}},
      {"io_wait_fraction", secs > 0 ? s.store.io_wait_seconds / secs : 0},
      {"memory",
       {{"peak_rss_bytes", s.peak_rss_bytes},
        {"resident_bytes", s.store.resident_bytes},
        {"staging_bytes", s.store.staging_bytes},
        {"kv_bytes", s.kv_bytes}}},
      {"layers", layers},
      {"run", json::parse(SummaryJson(s))},
  };
  const fs::path out(st.out);
  bool ok = WriteFile(out / "bench.json", bench.dump(1) + "\n") && WriteFile(out / "plots.py", BenchPlotScript());
  bool plots = false;
  if (ok && !st.no_plots) {
    const std::string cmd = fmt::format("python3 '{}' 2>&1", (out / "plots.py").string());
    plots = std::system(cmd.c_str()) == 0;
    if (!plots) fmt::print(stderr, "flashstream: no plots ({} failed; it needs matplotlib)\n", cmd);
  }
  ok = ok && WriteFile(out / "report.md", BenchMarkdown(bench, plots));
  if (!ok) {
    PrintError(fmt::format("{}: cannot write the report", st.out));
    return 1;
  }
  fmt::print(stderr,
             "decode {:.2f} tok/s = {:.2f} of the {}-bound limit {:.2f} tok/s | prefill {:.1f} tok/s | load {:.2f} s\n",
             decode_tps, limit_tps > 0 ? decode_tps / limit_tps : 0, t_disk > t_mem ? "disk" : "memory", limit_tps,
             s.prefill_tps(), session->load_seconds());
  fmt::print(stdout, "{}\n", (out / "report.md").string());
  return 0;
}

}  // namespace

CommandFn AddBenchCommand(CLI::App& cmd) {
  auto st = std::make_shared<BenchState>();
  AddEngineFlags(cmd, st->engine);
  cmd.add_option("--prompt-tokens", st->prompt_tokens, "prompt length for the prefill")->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--gen-tokens", st->gen_tokens, "tokens to decode")->check(CLI::Range(2, 1 << 20));
  cmd.add_option("-o,--out", st->out, "output folder (bench.json, trace.csv, report.md, plots)");
  cmd.add_flag("--no-plots", st->no_plots, "skip the PNG plots (no Python needed)");
  return [st] { return Bench(*st); };
}

}  // namespace flashstream::cli
