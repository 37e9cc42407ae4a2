// Compares a session's logits with a transformers reference written by scripts/ref_logits.py or
// scripts/ref_gemma3.py (a JSON description and a binary of f32 arrays): at every position of
// every reference prompt, top-1 must agree unless the reference margin is a near tie, and the
// logits of the reference's vocabulary subset must stay within an NMSE and a max-abs bound.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/session.h"
#include "test_env.h"

namespace flashstream::testing {

struct LogitBounds {
  double max_nmse;  // mean squared error / variance of the reference logits
  double max_abs;   // largest single logit deviation, in logit units
  double near_tie;  // top-1 may differ only where the reference margin is below this
};

// The array that `desc` ({"shape", "offset_bytes"}) locates in `bin`.
inline std::vector<float> ReferenceArray(const std::vector<char>& bin, const nlohmann::json& desc) {
  size_t n = 1;
  for (const auto& d : desc["shape"]) n *= d.get<size_t>();
  std::vector<float> out(n);
  std::memcpy(out.data(), bin.data() + desc["offset_bytes"].get<size_t>(), n * sizeof(float));
  return out;
}

// `stem` names the pair tests/data/ref/<stem>.json / .bin; `label` prefixes the printed line.
inline void ExpectLogitsMatchReference(Session& session, const std::string& stem, const LogitBounds& bounds,
                                       const std::string& label) {
  using nlohmann::json;
  const json ref = json::parse(ReadBytes(SourcePath("tests/data/ref/" + stem + ".json")));
  const std::vector<char> bin = ReadBytes(SourcePath("tests/data/ref/" + stem + ".bin"));
  const std::vector<int> subset = ref["subset_ids"].get<std::vector<int>>();
  const size_t vocab = ref["vocab_size"].get<size_t>();
  for (const json& prompt : ref["prompts"]) {
    const std::string name = prompt["name"];
    const std::vector<int32_t> ids = prompt["input_ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> top1 = prompt["top1_ids"].get<std::vector<int32_t>>();
    const std::vector<float> margin = ReferenceArray(bin, prompt["arrays"]["top1_margin"]);
    const std::vector<float> want = ReferenceArray(bin, prompt["arrays"]["subset_logits"]);
    std::vector<float> logits;
    ASSERT_TRUE(session.Evaluate(ids, &logits).ok());
    ASSERT_EQ(logits.size(), ids.size() * vocab);
    double err2 = 0, sum = 0, sum2 = 0, max_abs = 0;
    int agree = 0;
    for (size_t pos = 0; pos < ids.size(); ++pos) {
      const float* row = logits.data() + pos * vocab;
      const int32_t ours = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      if (ours == top1[pos]) {
        ++agree;
      } else {
        EXPECT_LT(margin[pos], bounds.near_tie) << name << " position " << pos << ": top-1 " << ours
                                                << " vs reference " << top1[pos] << " with reference margin "
                                                << margin[pos];
      }
      for (size_t j = 0; j < subset.size(); ++j) {
        const double r = want[pos * subset.size() + j];
        const double d = row[subset[j]] - r;
        err2 += d * d;
        sum += r;
        sum2 += r * r;
        max_abs = std::max(max_abs, std::fabs(d));
      }
    }
    const double n = static_cast<double>(ids.size() * subset.size());
    const double nmse = err2 / n / (sum2 / n - (sum / n) * (sum / n));
    std::printf("%s%s: %zu tokens, top-1 agreement %d/%zu, NMSE %.2e, max |diff| %.2e\n", label.c_str(),
                name.c_str(), ids.size(), agree, ids.size(), nmse, max_abs);
    EXPECT_LT(nmse, bounds.max_nmse) << name;
    EXPECT_LT(max_abs, bounds.max_abs) << name;
  }
}

}  // namespace flashstream::testing
