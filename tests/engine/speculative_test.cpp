// The acceptance rule keeps the target distribution exactly, and the draft policy drafts only
// when it pays.
#include "engine/speculative.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace flashstream {
namespace {

SamplingOptions Options(float temperature, int top_k) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  o.seed = 7;
  return o;
}

// Empirical distribution of the emitted token over n independent verifications of `draft`
// against p = softmax(logits / temperature) cut to the top k, compared with p itself: each
// frequency within 5 binomial standard deviations (a false alarm about once in 3 million).
void ExpectEmittedTokensFollowTarget(int32_t draft, int top_k) {
  const std::vector<float> logits = {1.2f, 0.4f, -0.3f, 0.9f, -2.0f};
  const float temperature = 0.8f;
  std::vector<double> p(logits.size(), 0.0);
  {
    Sampler reference(Options(temperature, top_k));
    double total = 0;
    for (const auto& [w, id] : reference.Distribution(logits, {})) total += w;
    for (const auto& [w, id] : reference.Distribution(logits, {})) p[static_cast<size_t>(id)] = w / total;
  }
  Sampler sampler(Options(temperature, top_k));
  const int n = 60000;
  std::vector<int> counts(logits.size(), 0);
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    const DraftVerdict v = VerifyDraft(sampler, logits, {}, draft);
    accepted += v.accepted ? 1 : 0;
    ASSERT_EQ(v.accepted, v.token == draft);
    ++counts[static_cast<size_t>(v.token)];
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const double sigma = std::sqrt(std::max(p[i] * (1 - p[i]), 1e-12) / n);
    EXPECT_NEAR(counts[i] / double(n), p[i], 5 * sigma) << "token " << i << ", draft " << draft;
  }
  const double pd = p[static_cast<size_t>(draft)];
  EXPECT_NEAR(accepted / double(n), pd, 5 * std::sqrt(std::max(pd * (1 - pd), 1e-12) / n));
}

TEST(VerifyDraft, SamplingKeepsTheTargetDistribution) {
  ExpectEmittedTokensFollowTarget(0, 0);  // the likeliest token drafted
  ExpectEmittedTokensFollowTarget(2, 0);  // an unlikely one
  ExpectEmittedTokensFollowTarget(4, 3);  // one that top-k removes: never accepted
}

TEST(VerifyDraft, GreedyAcceptsOnlyTheArgmax) {
  Sampler s(Options(0.0f, 0));
  const std::vector<float> logits = {0.1f, 2.0f, 1.9f};
  const DraftVerdict hit = VerifyDraft(s, logits, {}, 1);
  EXPECT_TRUE(hit.accepted);
  EXPECT_EQ(hit.token, 1);
  const DraftVerdict miss = VerifyDraft(s, logits, {}, 2);
  EXPECT_FALSE(miss.accepted);
  EXPECT_EQ(miss.token, 1);
}

TEST(VerifyDraft, SeesTheRepetitionPenaltyOfItsHistory) {
  SamplingOptions o = Options(0.0f, 0);
  o.repeat_penalty = 4.0f;
  Sampler s(o);
  const std::vector<float> logits = {0.1f, 2.0f, 1.9f};
  const std::vector<int32_t> history = {1};  // 2.0 / 4 < 1.9: token 2 becomes the argmax
  EXPECT_TRUE(VerifyDraft(s, logits, history, 2).accepted);
  EXPECT_FALSE(VerifyDraft(s, logits, {}, 2).accepted);
}

// Feeds the policy passes whose cost follows cost(n) = c1 + slope (n - 1) and drafts whose
// tokens are each accepted with probability `rate` (deterministically: the expected count).
int SettledDraftLength(double c1, double slope, double rate, int draft_max) {
  DraftPolicy policy(draft_max);
  for (int pass = 0; pass < 200; ++pass) {
    const int k = policy.Choose(draft_max, false);
    policy.RecordPass(k + 1, c1 + slope * k);
    if (k > 0) {
      int accepted = 0;
      double survive = 1;
      for (int i = 0; i < k; ++i) accepted += (survive *= rate) >= 0.5 ? 1 : 0;
      policy.RecordDraft(k, accepted);
    }
  }
  const int next = policy.Choose(draft_max, false);
  return std::max(next, policy.Choose(draft_max, false));  // one of two may be a plain probe pass
}

TEST(DraftPolicy, DraftsLongWhenPassesCostTheSameAndDraftsAreAccepted) {
  // A streamed model: a pass of 16 tokens costs what a pass of 1 does.
  EXPECT_GE(SettledDraftLength(1.0, 0.001, 0.95, 8), 6);
}

TEST(DraftPolicy, FallsBackToPlainDecodingWhenDraftsDoNotPay) {
  // Compute-bound passes: each drafted token costs as much as a plain pass, acceptance is low.
  EXPECT_EQ(SettledDraftLength(1.0, 1.0, 0.3, 8), 0);
}

TEST(DraftPolicy, DraftsGrowOnlyAsLongerPassesAreMeasured) {
  DraftPolicy policy(16);
  EXPECT_EQ(policy.Choose(16, false), 0);  // the first pass is a plain probe
  policy.RecordPass(1, 1.0);
  EXPECT_EQ(policy.Choose(16, false), 1);  // nothing longer measured: one drafted token
  policy.RecordPass(2, 1.0);
  policy.RecordDraft(1, 1);
  EXPECT_EQ(policy.Choose(16, false), 3);
  policy.RecordPass(4, 1.0);
  policy.RecordDraft(3, 3);
  EXPECT_EQ(policy.Choose(16, false), 7);
}

TEST(DraftPolicy, OneRejectedDraftOnACostlyPassEndsDrafting) {
  // A compute-bound model: a 2-token pass costs 1.8 plain passes; the first draft is rejected.
  DraftPolicy policy(8);
  policy.Choose(8, false);
  policy.RecordPass(1, 1.0);
  ASSERT_EQ(policy.Choose(8, false), 1);
  policy.RecordPass(2, 1.8);
  policy.RecordDraft(1, 0);
  for (int pass = 0; pass < 14; ++pass) {
    EXPECT_EQ(policy.Choose(8, false), 0);
    policy.RecordPass(1, 1.0);
  }
}

TEST(DraftPolicy, SettledOnPlainDecodingItStillTriesOneTokenEveryProbePeriod) {
  DraftPolicy policy(8);
  policy.Choose(8, false);
  policy.RecordPass(1, 1.0);
  policy.Choose(8, false);
  policy.RecordPass(2, 1.8);
  policy.RecordDraft(1, 0);
  int drafts = 0;
  for (int pass = 0; pass < 64; ++pass) {
    const int k = policy.Choose(8, false);
    EXPECT_LE(k, 1);
    drafts += k;
    policy.RecordPass(k + 1, 1.0 + 0.8 * k);
    if (k > 0) policy.RecordDraft(k, 0);
  }
  EXPECT_EQ(drafts, 2);
}

TEST(DraftPolicy, NeverDraftsMoreThanAvailableOrAllowed) {
  DraftPolicy policy(4);
  policy.Choose(4, false);  // probe pass
  policy.RecordPass(1, 1.0);
  EXPECT_LE(policy.Choose(16, false), 4);
  EXPECT_LE(policy.Choose(2, false), 2);
  EXPECT_EQ(policy.Choose(0, false), 0);
}

}  // namespace
}  // namespace flashstream
