// MoE decode under --ram: routed experts in the expert cache (policy, lookahead routing) or,
// with --layers 1, whole layers streamed (the baseline). Probes the model file's O_DIRECT read
// bandwidth in the same run and reports decode tok/s against the disk's limit for the bytes
// actually read per decoded token, the cache's hit rate, the lookahead's precision/recall, and
// writes the routing trace (for bench_moe_replay) when --trace is given. Prints one JSON object.
// The decoded tokens are forced from a fixed pseudo-random sequence (greedy decoding of a random
// model repeats one token, which routes the same experts every pass and hits 100%), or, with
// --text FILE, are the file's tokens after the prompt's (real text for a model with a trained
// tokenizer, e.g. scripts/moe_real_router.py's SmolLM2 split into experts).
// Synthetic routers route almost uniformly: predictability figures from them are a floor.
//   bench_moe MODEL --ram GIB [--decode 16] [--prompt 8] [--threads 2] [--policy lfu]
//             [--lookahead 1] [--next-token 0] [--layers 0] [--trace FILE] [--probe-gib 1] [--text FILE]
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>  // JSON output
#include <sstream>
#include <string>

#include "engine/session.h"
#include "io/bandwidth_probe.h"
#include "models/decoder.h"
#include "models/moe_block.h"

using namespace flashstream;

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int Fail(const Status& s) {
  fmt::print(stderr, "bench_moe: {}\n", s.message());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr,
               "usage: bench_moe MODEL --ram GIB [--decode N] [--prompt N] [--threads N] [--policy P] "
               "[--lookahead 0|1] [--next-token 0|1] [--layers 0|1] [--trace FILE] [--probe-gib G] [--text FILE]\n");
    return 2;
  }
  EngineOptions eo;
  eo.model_path = argv[1];
  eo.threads = 2;
  eo.ctx = 256;
  int n_decode = 16, n_prompt = 8;
  double probe_gib = 1;
  std::string trace_path, text_path;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--ram")
      eo.ram_gib = std::atof(v);
    else if (flag == "--decode")
      n_decode = std::atoi(v);
    else if (flag == "--prompt")
      n_prompt = std::atoi(v);
    else if (flag == "--threads")
      eo.threads = std::atoi(v);
    else if (flag == "--policy")
      eo.expert_policy = v;
    else if (flag == "--lookahead")
      eo.expert_lookahead = std::atoi(v) != 0;
    else if (flag == "--next-token")
      eo.expert_next_token = std::atoi(v) != 0;
    else if (flag == "--layers")
      eo.expert_cache = std::atoi(v) == 0;
    else if (flag == "--trace")
      trace_path = v;
    else if (flag == "--probe-gib")
      probe_gib = std::atof(v);
    else if (flag == "--text")
      text_path = v;
  }
  eo.ctx = std::max(eo.ctx, n_prompt + n_decode + 8);
  // The disk's limit, measured now: reads of 16 MiB, as the engine's expert reads are a few MiB
  // to 100 MiB and its layer reads larger.
  DirectReaderOptions io;
  Result<double> gbps = ProbeReadGBps(eo.model_path, io, static_cast<uint64_t>(probe_gib * (1ull << 30)));
  if (!gbps.ok()) return Fail(gbps.status());

  Result<std::unique_ptr<Session>> opened = Session::Open(eo, nullptr);
  if (!opened.ok()) return Fail(opened.status());
  Session& s = **opened;
  const ModelConfig& c = s.index().config;
  std::FILE* trace = trace_path.empty() ? nullptr : std::fopen(trace_path.c_str(), "w");
  int pass = 0;
  if (trace != nullptr && s.model().moe() != nullptr) {
    // One line per layer and pass: "pass layer e0 e1 ..." (the distinct routed experts).
    std::fprintf(trace, "# n_layers %d n_expert %d n_expert_used %d\n", c.n_layers, c.n_expert, c.n_expert_used);
    s.model().moe()->set_routing_hook([&](int layer, std::span<const int32_t> selected, int64_t) {
      std::vector<int32_t> e(selected.begin(), selected.end());
      std::sort(e.begin(), e.end());
      e.erase(std::unique(e.begin(), e.end()), e.end());
      std::fprintf(trace, "%d %d", pass, layer);
      for (int32_t x : e) std::fprintf(trace, " %d", x);
      std::fprintf(trace, "\n");
    });
  }
  std::vector<int32_t> prompt;
  std::vector<int32_t> text;  // --text: the prompt, then the forced decode tokens
  if (!text_path.empty()) {
    std::ifstream in(text_path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in || !s.has_tokenizer())
      return Fail(Errorf("{}: cannot read the text, or the model has no tokenizer", text_path));
    text = s.tokenizer().Encode(buf.str(), true, false);
    if (text.size() < static_cast<size_t>(n_prompt + n_decode)) {
      return Fail(Errorf("{}: {} tokens, expected at least --prompt + --decode = {}", text_path, text.size(),
                         n_prompt + n_decode));
    }
    prompt.assign(text.begin(), text.begin() + n_prompt);
  }
  for (int i = 0; text.empty() && i < n_prompt; ++i) prompt.push_back(100 + (i * 7919) % (c.vocab_size - 200));
  std::vector<float> logits;
  Status st = s.Append(prompt, false, &logits);
  if (!st.ok()) return Fail(st);
  const StoreStats store0 = s.store().stats();
  const ExpertCacheStats x0 = s.expert_cache() ? s.expert_cache()->stats() : ExpertCacheStats{};
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n_decode; ++i) {
    ++pass;
    const int32_t next[1] = {!text.empty() ? text[static_cast<size_t>(n_prompt + i)]
                                           : 100 + static_cast<int32_t>((7919ull * (n_prompt + i) + 104729ull * i * i) %
                                                                        static_cast<uint64_t>(c.vocab_size - 200))};
    st = s.Append(next, false, &logits);
    if (!st.ok()) return Fail(st);
  }
  const double secs = Since(t0);
  if (trace != nullptr) std::fclose(trace);
  const StoreStats store = s.store().stats().Since(store0);
  const ExpertCacheStats x = s.expert_cache() ? s.expert_cache()->stats().Since(x0) : ExpertCacheStats{};
  const double bytes_per_token = static_cast<double>(store.bytes_read + x.bytes_read) / n_decode;
  const double tps = n_decode / secs;
  const double limit_tps = bytes_per_token > 0 ? *gbps * 1e9 / bytes_per_token : 0;
  double load[3] = {0, 0, 0};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  nlohmann::json out = {
      {"model", eo.model_path},
      {"mode", s.expert_cache() ? "experts" : "layers"},
      {"ram_gib", eo.ram_gib},
      {"threads", eo.threads},
      {"disk_gbps", *gbps},
      {"decode_tokens", n_decode},
      {"decode_tps", tps},
      {"bytes_read_per_token", bytes_per_token},
      {"disk_limit_tps", limit_tps},
      {"ratio_to_disk_limit", limit_tps > 0 ? tps / limit_tps : 0},
      {"resident_bytes", s.store().stats().resident_bytes},
      {"peak_rss_bytes", PeakRssBytes()},
      {"loadavg_1m", load[0]},
      {"text", text_path},
  };
  if (s.expert_cache() != nullptr) {
    const uint64_t uses = x.hits + x.prefetch_hits + x.misses;
    out["policy"] = Name(x.policy);
    out["lookahead"] = eo.expert_lookahead;
    out["slots"] = x.slots;
    out["slot_bytes"] = x.slot_bytes;
    out["expert_keys"] = c.n_layers * c.n_expert;
    out["hit_rate"] = x.hit_rate();
    out["cached_rate"] = uses > 0 ? static_cast<double>(x.hits) / uses : 0;
    out["prefetched_rate"] = uses > 0 ? static_cast<double>(x.prefetch_hits) / uses : 0;
    out["prefetch_reads"] = x.prefetch_reads;
    out["lookahead_precision"] = x.precision();
    out["lookahead_recall"] = x.recall();
    out["next_token"] = eo.expert_next_token;
    out["next_token_precision"] = x.next_precision();
    out["wait_seconds"] = x.wait_seconds;
    out["io_seconds"] = x.io_seconds;
    out["io_threads"] = x.io_threads;
  }
  fmt::print("{}\n", out.dump());
  return 0;
}
