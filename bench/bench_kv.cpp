// KV cache benchmark: greedy decode tok/s at several context lengths for each --kv-quant, with
// the KV cache's RAM and the K/V bytes attention reads per decoded token. One session per cache
// setting prefills once, growing the prompt context by context (the shorter prompt's K/V are
// reused); at each length the settings take turns decoding N tokens, best of 3 turns each. Prints one JSON object;
// "ratios" compares each quantized cache with the FP16 one (--kv-quant 0) of the same run at the same length: memory
// (target
// <= 0.55 for 8-bit at 8k) and decode speed (target >= 1).
//   bench_kv MODEL [--threads 2] [--decode 16] [--contexts 512,4096,8192] [--quants 0,8,4] [--device cuda]
// With --device cuda the caches are in device memory (kv_bytes: device bytes of the tiers).
#include <fmt/format.h>  // fmt::print

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>  // JSON output
#include <sstream>
#include <string>
#include <vector>

#include "engine/session.h"

using namespace flashstream;

constexpr int kReps = 3;

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::atoi(item.c_str()));
  return out;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr,
               "usage: bench_kv MODEL [--threads N] [--decode N] [--contexts 512,4096,8192] [--quants 0,8,4] "
               "[--device cpu|cuda]\n");
    return 2;
  }
  EngineOptions eo;
  eo.model_path = argv[1];
  eo.threads = 2;
  int n_decode = 16;
  std::vector<int> contexts = {512, 4096, 8192}, quants = {0, 8, 4};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads")
      eo.threads = std::atoi(value.c_str());
    else if (flag == "--decode")
      n_decode = std::atoi(value.c_str());
    else if (flag == "--contexts")
      contexts = IntList(value);
    else if (flag == "--quants")
      quants = IntList(value);
    else if (flag == "--device")
      eo.device = value;
  }
  int max_ctx = 0;
  for (int c : contexts) max_ctx = std::max(max_ctx, c);
  // A context length is where decoding ends: the prompt takes it less the decoded tokens (and
  // one spare position), so 8192 runs within a model trained on 8192.
  eo.ctx = max_ctx;
  nlohmann::json results = nlohmann::json::array();
  std::map<std::pair<int, int>, nlohmann::json> by_key;  // (ctx, quant)
  std::vector<std::unique_ptr<Session>> sessions;
  for (int q : quants) {
    eo.kv_quant = q;
    Result<std::unique_ptr<Session>> opened = Session::Open(eo, nullptr);
    if (!opened.ok()) {
      fmt::print(stderr, "bench_kv: {}\n", opened.status().message());
      return 1;
    }
    sessions.push_back(std::move(opened).value());
  }
  const int vocab = sessions[0]->index().config.vocab_size;
  std::vector<int32_t> prompt(static_cast<size_t>(max_ctx));
  for (int i = 0; i < max_ctx; ++i) prompt[static_cast<size_t>(i)] = 100 + (i * 7919) % (vocab - 200);
  GenerateOptions go;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  go.max_tokens = n_decode;
  for (int c : contexts) {
    // The settings take turns (the first turn prefills, later ones reuse the prompt's K/V); each
    // keeps its fastest decode, so the machine's load affects them alike.
    std::vector<RunStats> best(sessions.size());
    for (int rep = 0; rep < kReps; ++rep) {
      for (size_t i = 0; i < sessions.size(); ++i) {
        Result<RunStats> r = sessions[i]->Generate(
            std::span<const int32_t>(prompt.data(), static_cast<size_t>(c - n_decode - 1)), go, nullptr);
        if (!r.ok()) {
          fmt::print(stderr, "bench_kv: {}\n", r.status().message());
          return 1;
        }
        if (rep == 0) best[i].prefill_seconds = r->prefill_seconds, best[i].prompt_tokens = r->prompt_tokens;
        if (r->decode_tps() > best[i].decode_tps()) {
          const double prefill = best[i].prefill_seconds;
          const int prompt_tokens = best[i].prompt_tokens;
          best[i] = *r;
          best[i].prefill_seconds = prefill;
          best[i].prompt_tokens = prompt_tokens;
          best[i].reused_tokens = 0;
        }
      }
    }
    for (size_t i = 0; i < sessions.size(); ++i) {
      const RunStats& r = best[i];
      const int passes = std::max(r.generated_tokens - 1, 1);
      nlohmann::json row = {
          {"ctx", c},
          {"kv_quant", quants[i]},
          {"decode_tps", r.decode_tps()},
          {"kv_bytes", r.kv.ram_bytes()},
          {"kv_fp16_bytes", r.kv.hot_bytes},
          {"kv_quantized_bytes", r.kv.cold_bytes},
          {"kv_read_per_token", r.kv.read_ram_bytes / static_cast<uint64_t>(passes)},
      };
      fmt::print(stderr, "{}\n", row.dump());
      by_key[{c, quants[i]}] = row;
      results.push_back(row);
    }
  }
  nlohmann::json ratios = nlohmann::json::array();
  for (const auto& [key, row] : by_key) {
    const auto fp16 = by_key.find({key.first, 0});
    if (key.second == 0 || fp16 == by_key.end()) continue;
    ratios.push_back({{"ctx", key.first},
                      {"kv_quant", key.second},
                      {"memory_vs_fp16", row["kv_bytes"].get<double>() / fp16->second["kv_bytes"].get<double>()},
                      {"decode_vs_fp16", row["decode_tps"].get<double>() / fp16->second["decode_tps"].get<double>()}});
  }
  nlohmann::json out = {{"model", eo.model_path},
                        {"threads", eo.threads},
                        {"device", eo.device},
                        {"decode_tokens", n_decode},
                        {"results", results},
                        {"ratios", ratios},
                        {"limits", {{"memory_vs_fp16_q8_at_8k", 0.55}, {"decode_vs_fp16", 1.0}}}};
  fmt::print("{}\n", out.dump(2));
  return 0;
}
