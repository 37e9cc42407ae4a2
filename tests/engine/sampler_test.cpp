#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace flashstream {
namespace {

SamplingOptions Plain(float temperature) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  o.seed = 42;
  return o;
}

TEST(Sampler, GreedyPicksArgmax) {
  Sampler s(Plain(0.0f));
  std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f};
  EXPECT_EQ(s.Sample(logits, {}), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingOptions o = Plain(1.5f);
  o.top_k = 1;
  Sampler s(o);
  std::vector<float> logits = {0.1f, 2.5f, -1.0f, 2.4f};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.Sample(logits, {}), 1);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> logits = {0.3f, 0.2f, 0.1f, 0.0f, -0.1f};
  Sampler a(Plain(1.0f)), b(Plain(1.0f));
  SamplingOptions other = Plain(1.0f);
  other.seed = 43;
  Sampler c(other);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 64; ++i) {
    sa.push_back(a.Sample(logits, {}));
    sb.push_back(b.Sample(logits, {}));
    sc.push_back(c.Sample(logits, {}));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  std::vector<float> logits = {1.0f, 0.0f, -1.0f, 0.5f};
  const float temperature = 0.7f;
  Sampler s(Plain(temperature));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] / temperature);
  const int n = 40000;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) counts[static_cast<size_t>(s.Sample(logits, {}))]++;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] / sum;
    const double sigma = std::sqrt(expected * (1 - expected) / n);
    EXPECT_NEAR(counts[i] / double(n), expected, 5 * sigma) << "token " << i;
  }
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // Probabilities ~ {0.6, 0.3, 0.1}: top_p 0.8 keeps the first two only.
  std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  SamplingOptions o = Plain(1.0f);
  o.top_p = 0.8f;
  Sampler s(o);
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 5000; ++i) seen[s.Sample(logits, {})]++;
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(seen[2], 0);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  std::vector<float> logits = {std::log(0.7f), std::log(0.25f), std::log(0.05f)};
  SamplingOptions o = Plain(1.0f);
  o.min_p = 0.1f;  // floor 0.07: drops the 0.05 token
  Sampler s(o);
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 5000; ++i) seen[s.Sample(logits, {})]++;
  EXPECT_GT(seen[1], 0);
  EXPECT_EQ(seen[2], 0);
}

TEST(Sampler, RepeatPenaltyDemotesRecentTokens) {
  SamplingOptions o = Plain(0.0f);
  o.repeat_penalty = 2.0f;
  o.repeat_last_n = 4;
  Sampler s(o);
  std::vector<float> logits = {2.0f, 1.5f, -3.0f};
  std::vector<int32_t> history = {0};
  EXPECT_EQ(s.Sample(logits, history), 1);  // 2.0 / 2 = 1.0 < 1.5
  std::vector<int32_t> old = {0, 2, 2, 2, 2};  // token 0 is outside the last 4
  EXPECT_EQ(s.Sample(logits, old), 0);
}

}  // namespace
}  // namespace flashstream
