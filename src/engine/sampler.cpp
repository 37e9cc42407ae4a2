#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace flashstream {
namespace {

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Sampler::Sampler(const SamplingOptions& options) : options_(options) {
  uint64_t s = options.seed;
  for (uint64_t& word : state_) word = SplitMix64(s);
}

double Sampler::NextUniform() {  // xoshiro256**
  const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = Rotl(state_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

const std::vector<std::pair<float, int32_t>>& Sampler::Distribution(std::span<const float> logits,
                                                                    std::span<const int32_t> history) {
  FS_CHECK(!logits.empty(), "no logits");
  std::span<const float> scores = logits;
  if (options_.repeat_penalty != 1.0f && options_.repeat_last_n != 0) {
    penalized_.assign(logits.begin(), logits.end());
    const size_t window = options_.repeat_last_n < 0
                              ? history.size()
                              : std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
    std::vector<bool> seen(logits.size(), false);
    for (int32_t id : history.subspan(history.size() - window)) {
      if (id < 0 || static_cast<size_t>(id) >= logits.size() || seen[static_cast<size_t>(id)]) continue;
      seen[static_cast<size_t>(id)] = true;
      float& v = penalized_[static_cast<size_t>(id)];
      v = v > 0 ? v / options_.repeat_penalty : v * options_.repeat_penalty;
    }
    scores = penalized_;
  }
  if (options_.temperature <= 0.0f) {
    const auto best = std::max_element(scores.begin(), scores.end()) - scores.begin();
    candidates_.assign(1, {1.0f, static_cast<int32_t>(best)});
    return candidates_;
  }
  candidates_.resize(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) candidates_[i] = {scores[i], static_cast<int32_t>(i)};
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                      by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  // Softmax at the temperature; candidates are sorted, so [0] is the maximum.
  const float max_logit = candidates_[0].first;
  double sum = 0;
  for (auto& [value, id] : candidates_) {
    value = std::exp((value - max_logit) / options_.temperature);
    sum += value;
  }
  for (auto& c : candidates_) c.first = static_cast<float>(c.first / sum);
  if (options_.min_p > 0.0f) {
    const float floor = options_.min_p * candidates_[0].first;
    size_t n = 1;
    while (n < candidates_.size() && candidates_[n].first >= floor) ++n;
    candidates_.resize(n);
  }
  if (options_.top_p < 1.0f) {
    double cumulative = 0;
    size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += candidates_[n++].first;
      if (cumulative >= options_.top_p) break;
    }
    candidates_.resize(n);
  }
  return candidates_;
}

int32_t Sampler::Draw(std::span<const std::pair<float, int32_t>> weighted) {
  FS_CHECK(!weighted.empty(), "empty distribution");
  if (options_.temperature <= 0.0f) return weighted[0].second;  // greedy: no random number drawn
  double total = 0;
  for (const auto& c : weighted) total += c.first;
  double r = NextUniform() * total;
  for (const auto& [p, id] : weighted) {
    r -= p;
    if (r < 0) return id;
  }
  return weighted.back().second;
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  return Draw(Distribution(logits, history));
}

}  // namespace flashstream
