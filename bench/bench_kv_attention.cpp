// Decode-step attention over the KV tiers alone (no model): for each --kv-quant, a one-layer
// cache of a given shape is filled with random K/V to each context length, then single-token
// steps (Write, Attend, Advance) are timed, the settings taking turns (best of 5 turns each). Prints one JSON object
// with microseconds per step, the K/V bytes read per step, the cache's bytes, and each quantized setting's ratios to
// FP16
// (--kv-quant 0) in the same run: memory (target <= 0.55 for 8-bit at 8k) and speed (>= 1).
//   bench_kv_attention [--threads 2] [--heads 9] [--kv-heads 3] [--head-dim 64] [--steps 64]
//                      [--contexts 512,4096,8192]
#include <fmt/format.h>  // fmt::print

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>  // JSON output
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/thread_pool.h"
#include "kv/tiered_kv_cache.h"

using namespace flashstream;

constexpr int kReps = 5;

int main(int argc, char** argv) {
  int threads = 2, heads = 9, kv_heads = 3, head_dim = 64, steps = 64;
  std::vector<int> contexts = {512, 4096, 8192};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    const int v = std::atoi(value.c_str());
    if (flag == "--threads")
      threads = v;
    else if (flag == "--heads")
      heads = v;
    else if (flag == "--kv-heads")
      kv_heads = v;
    else if (flag == "--head-dim")
      head_dim = v;
    else if (flag == "--steps")
      steps = v;
    else if (flag == "--contexts") {
      contexts.clear();
      std::stringstream in(value);
      for (std::string item; std::getline(in, item, ',');) contexts.push_back(std::atoi(item.c_str()));
    }
  }
  ThreadPool pool(threads);
  std::unique_ptr<Backend> backend = MakeCpuBackend(pool);
  const int width = kv_heads * head_dim;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 1.f);  // q from rng; K/V rows from a per-length seed
  std::vector<float> k(static_cast<size_t>(512) * width), v(k.size()), q(static_cast<size_t>(heads) * head_dim),
      out(q.size());
  for (float& x : q) x = dist(rng);
  nlohmann::json results = nlohmann::json::array();
  std::map<std::pair<int, int>, nlohmann::json> by_key;
  const std::vector<int> quants = {0, 8, 4};
  std::vector<std::unique_ptr<TieredKvCache>> caches;
  for (int quant : quants) {
    KvConfig c;
    c.n_layers = 1;
    c.n_kv_heads = kv_heads;
    c.head_dim = head_dim;
    c.max_positions = contexts.back() + kReps * steps + 8;
    c.quant_bits = quant;
    Result<std::unique_ptr<TieredKvCache>> made = TieredKvCache::Create(c);
    if (!made.ok()) {
      fmt::print(stderr, "bench_kv_attention: {}\n", made.status().message());
      return 1;
    }
    caches.push_back(std::move(made).value());
  }
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  for (int ctx : contexts) {
    for (auto& cache : caches) {  // fill to ctx with the same random rows
      std::mt19937 fill_rng(static_cast<uint32_t>(ctx));
      while (cache->n_past() < ctx) {
        const int n = std::min(512, ctx - cache->n_past());
        for (float& x : k) x = dist(fill_rng);
        for (float& x : v) x = dist(fill_rng);
        if (Status st = cache->Write(0, k.data(), v.data(), n); !st.ok()) {
          fmt::print(stderr, "bench_kv_attention: {}\n", st.message());
          return 1;
        }
        cache->Advance(n);
      }
    }
    // The settings take turns, kReps times, and each keeps its fastest turn: the machine's load
    // then affects them alike.
    std::vector<double> best(quants.size(), 1e30);
    std::vector<uint64_t> read(quants.size(), 0);
    for (int rep = 0; rep < kReps; ++rep) {
      for (size_t i = 0; i < quants.size(); ++i) {
        TieredKvCache& cache = *caches[i];
        const KvStats before = cache.stats();
        const auto t0 = std::chrono::steady_clock::now();
        for (int s = 0; s < steps; ++s) {
          Status st = cache.Write(0, k.data(), v.data(), 1);
          if (st.ok()) st = cache.Attend(0, *backend, q.data(), 1, heads, kv_heads, head_dim, scale, 0, out.data());
          if (!st.ok()) {
            fmt::print(stderr, "bench_kv_attention: {}\n", st.message());
            return 1;
          }
          cache.Advance(1);
        }
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / steps;
        best[i] = std::min(best[i], us);
        read[i] = cache.stats().Since(before).read_ram_bytes / static_cast<uint64_t>(steps);
      }
    }
    for (size_t i = 0; i < quants.size(); ++i) {
      nlohmann::json row = {{"ctx", ctx},
                            {"kv_quant", quants[i]},
                            {"us_per_step", best[i]},
                            {"read_bytes_per_step", read[i]},
                            {"read_gbps", static_cast<double>(read[i]) / best[i] / 1e3},
                            {"kv_bytes", caches[i]->stats().ram_bytes()}};
      fmt::print(stderr, "{}\n", row.dump());
      by_key[{ctx, quants[i]}] = row;
      results.push_back(row);
    }
  }
  nlohmann::json ratios = nlohmann::json::array();
  for (const auto& [key, row] : by_key) {
    if (key.second == 0) continue;
    const nlohmann::json& fp16 = by_key[{key.first, 0}];
    ratios.push_back({{"ctx", key.first},
                      {"kv_quant", key.second},
                      {"memory_vs_fp16", row["kv_bytes"].get<double>() / fp16["kv_bytes"].get<double>()},
                      {"speed_vs_fp16", fp16["us_per_step"].get<double>() / row["us_per_step"].get<double>()}});
  }
  const nlohmann::json out_json = {
      {"threads", threads}, {"shape", {{"heads", heads}, {"kv_heads", kv_heads}, {"head_dim", head_dim}}},
      {"steps", steps},     {"results", results},
      {"ratios", ratios},   {"limits", {{"memory_vs_fp16_q8_at_8k", 0.55}, {"speed_vs_fp16", 1.0}}}};
  fmt::print("{}\n", out_json.dump(2));
  return 0;
}
