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
  // The distribution Sample draws from: (probability, id) pairs, most likely first, after the
  // penalty, top-k, softmax at the temperature, min-p and top-p (unnormalized after the
  // cut-offs). Greedy gives one pair {1, argmax}. Valid until the next call.
  const std::vector<std::pair<float, int32_t>>& Distribution(std::span<const float> logits,
                                                             std::span<const int32_t> history);
  // One id drawn from `weighted` in proportion to its weights with one NextUniform(); greedy
  // returns weighted[0] without drawing. Precondition: `weighted` is not empty.
  int32_t Draw(std::span<const std::pair<float, int32_t>> weighted);
  // Uniform double in [0, 1) from the seeded generator.
  double NextUniform();

 private:
  SamplingOptions options_;
  uint64_t state_[4];
  std::vector<std::pair<float, int32_t>> candidates_;  // (logit or probability, id)
  std::vector<float> penalized_;                       // [vocab]
};

}  // namespace flashstream
