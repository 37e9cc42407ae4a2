// Sampler: picks the next token from logits with repetition penalty, top-k, top-p, min-p and
// temperature, driven by a seeded generator so the same seed gives the same choices.
// Owns its random state and scratch; not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "flashstream/options.h"

namespace flashstream {

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  // logits[vocab]; history: tokens so far (prompt and output), used by the repetition penalty.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history);
  // Uniform double in [0, 1) from the seeded generator.
  double NextUniform();

 private:
  SamplingOptions options_;
  uint64_t state_[4];
  std::vector<std::pair<float, int32_t>> candidates_;  // (logit or probability, id)
  std::vector<float> penalized_;                       // [vocab]
};

}  // namespace flashstream
