// The transformers references of tests/data/arch/ and tests/data/moe/ (scripts/ref_arch.py,
// scripts/ref_moe.py): token ids, f32 logits at every position, top-1 ids and margins, and
// transformers' own f32-vs-f64 gap; plus the comparison both reference tests use.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2e/test_env.h"
#include "engine/session.h"

namespace flashstream::testing {

struct Reference {
  std::vector<int32_t> ids;
  std::vector<int32_t> top1;
  std::vector<float> margin;
  std::vector<float> logits;  // [n, vocab]
  size_t vocab = 0;
  double fp64_gap = 0;
};

// dir: the model's folder relative to the source tree ("tests/data/arch/qwen3").
inline Reference LoadReference(const std::string& dir) {
  using nlohmann::json;
  const json j = json::parse(ReadBytes(SourcePath(dir + "/ref.json")));
  Reference r;
  r.ids = j["input_ids"].get<std::vector<int32_t>>();
  r.top1 = j["top1_ids"].get<std::vector<int32_t>>();
  r.margin = j["top1_margin"].get<std::vector<float>>();
  r.vocab = j["vocab_size"].get<size_t>();
  r.fp64_gap = j["max_abs_fp32_vs_fp64"].get<double>();
  const std::vector<char> bin = ReadBytes(SourcePath(dir + "/ref_logits.bin"));
  r.logits.resize(bin.size() / sizeof(float));
  std::memcpy(r.logits.data(), bin.data(), r.logits.size() * sizeof(float));
  EXPECT_EQ(r.logits.size(), r.ids.size() * r.vocab) << dir;
  return r;
}

// path: a model file or folder relative to the source tree.
inline std::unique_ptr<Session> OpenModel(const std::string& path) {
  EngineOptions o;
  o.model_path = SourcePath(path);
  o.threads = 2;
  o.ctx = 128;
  o.kv_quant = 0;  // f32 K/V: these bounds measure the model path, not the KV cache (docs/KV_CACHE.md)
  o.kv_f32 = true;
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  EXPECT_TRUE(s.ok()) << path << ": " << s.status().message();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Compares logits rows [first, first + rows) against the reference.
// NMSE bound 1e-11: f32 reordering gives ~1e-13 here. Max |diff| bound: 10x the reference's
// own f32-vs-f64 gap (both sides round in f32, in different orders). Top-1 must agree at
// every position; the reference margins are all above 1e-4 (ref.json), far above the error.
inline void ExpectClose(const std::string& name, const Reference& ref, const float* logits, size_t first, size_t rows) {
  double err2 = 0, sum = 0, sum2 = 0, max_abs = 0;
  for (size_t p = first; p < first + rows; ++p) {
    const float* got = logits + (p - first) * ref.vocab;
    const float* want = ref.logits.data() + p * ref.vocab;
    const int32_t top = static_cast<int32_t>(std::max_element(got, got + ref.vocab) - got);
    EXPECT_EQ(top, ref.top1[p]) << name << " position " << p << " (reference margin " << ref.margin[p] << ")";
    for (size_t v = 0; v < ref.vocab; ++v) {
      const double d = static_cast<double>(got[v]) - want[v];
      err2 += d * d;
      sum += want[v];
      sum2 += static_cast<double>(want[v]) * want[v];
      max_abs = std::max(max_abs, std::fabs(d));
    }
  }
  const double n = static_cast<double>(rows * ref.vocab);
  const double nmse = err2 / n / (sum2 / n - (sum / n) * (sum / n));
  std::printf("%s rows %zu..%zu: NMSE %.2e, max |diff| %.2e (transformers f32 vs f64: %.2e)\n", name.c_str(), first,
              first + rows, nmse, max_abs, ref.fp64_gap);
  EXPECT_LT(nmse, 1e-11) << name;
  EXPECT_LT(max_abs, 10 * std::max(ref.fp64_gap, 1e-6)) << name;
}

}  // namespace flashstream::testing
