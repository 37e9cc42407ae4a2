// The expert cache's replacement policies (store/expert_policy.h): which slot each policy gives
// up, that a slot the caller protects is never chosen, and the cyclic layer order that defeats
// LRU (every use a miss) while frequency-based policies keep a stable share of the experts.
#include <gtest/gtest.h>

#include "store/expert_policy.h"

namespace flashstream {
namespace {

// Uses key k through the table as the cache does: hit, or refill the policy's victim.
bool Use(ExpertSlots& t, int k) {
  const bool hit = t.Find(k) >= 0;
  if (!hit) t.Assign(t.Victim(nullptr), k);
  t.Touch(k);
  return hit;
}

TEST(MoeExpertSlots, ParsesAndNamesPolicies) {
  for (ExpertPolicy p : {ExpertPolicy::kLru, ExpertPolicy::kLfu, ExpertPolicy::kDecay}) {
    Result<ExpertPolicy> back = ParseExpertPolicy(Name(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  Result<ExpertPolicy> bad = ParseExpertPolicy("fifo");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'fifo'"), std::string::npos);
  EXPECT_TRUE(IsValid(kDefaultExpertPolicy));
}

TEST(MoeExpertSlots, EmptySlotsFirstThenEachPolicysVictim) {
  for (ExpertPolicy p : {ExpertPolicy::kLru, ExpertPolicy::kLfu, ExpertPolicy::kDecay}) {
    SCOPED_TRACE(Name(p));
    ExpertSlots t(p, 10, 2, 4);
    EXPECT_FALSE(Use(t, 0));
    EXPECT_FALSE(Use(t, 1));
    EXPECT_TRUE(Use(t, 0));
    EXPECT_TRUE(Use(t, 0));
    EXPECT_TRUE(Use(t, 1));  // key 1 most recent, key 0 most frequent
    EXPECT_FALSE(Use(t, 2));
    if (p == ExpertPolicy::kLru) {
      EXPECT_LT(t.Find(0), 0);  // the least recent left
      EXPECT_GE(t.Find(1), 0);
    } else {
      EXPECT_GE(t.Find(0), 0);  // the most frequent stayed
      EXPECT_LT(t.Find(1), 0);
    }
  }
}

TEST(MoeExpertSlots, DecayForgetsOldFrequency) {
  // Key 0 used 3 times long ago, key 1 twice just now: with a half-life of 1 use, key 0's count
  // has decayed below key 1's and key 0 goes; plain LFU keeps it.
  for (ExpertPolicy p : {ExpertPolicy::kDecay, ExpertPolicy::kLfu}) {
    ExpertSlots t(p, 10, 2, 1);
    for (int i = 0; i < 3; ++i) Use(t, 0);
    Use(t, 1);
    Use(t, 1);
    Use(t, 2);
    EXPECT_EQ(t.Find(0) >= 0, p == ExpertPolicy::kLfu) << Name(p);
  }
}

TEST(MoeExpertSlots, ProtectedSlotsAreNeverChosen) {
  ExpertSlots t(ExpertPolicy::kLru, 10, 3, 1);
  for (int k = 0; k < 3; ++k) Use(t, k);
  const int s0 = t.Find(0);
  EXPECT_EQ(t.Victim(nullptr), s0);
  EXPECT_NE(t.Victim([&](int s) { return s != s0; }), s0);
  EXPECT_EQ(t.Victim([](int) { return false; }), -1);
}

TEST(MoeExpertSlots, CyclicLayerOrderDefeatsLruNotFrequency) {
  // 32 experts used in turn every pass, 12 slots: LRU always evicts the next one needed; LFU
  // (equal counts: the most recent goes) keeps 11 residents.
  constexpr int kKeys = 32, kSlots = 12, kPasses = 20;
  for (ExpertPolicy p : {ExpertPolicy::kLru, ExpertPolicy::kLfu}) {
    ExpertSlots t(p, kKeys, kSlots, 4.0 * kKeys);
    int hits = 0;
    for (int pass = 0; pass < kPasses; ++pass) {
      for (int k = 0; k < kKeys; ++k) hits += (Use(t, k) && pass > 0) ? 1 : 0;
    }
    if (p == ExpertPolicy::kLru) {
      EXPECT_EQ(hits, 0);
    } else {
      EXPECT_GE(hits, (kPasses - 1) * (kSlots - 1)) << Name(p);  // all but one slot stay put
    }
  }
}

}  // namespace
}  // namespace flashstream
