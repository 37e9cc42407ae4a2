#include "engine/ngram_drafter.h"

#include <gtest/gtest.h>

#include <vector>

namespace flashstream {
namespace {

std::vector<int32_t> DraftOf(const std::vector<int32_t>& history, int max_ngram, int max_tokens) {
  std::vector<int32_t> draft;
  NgramDrafter(max_ngram).Draft(history, max_tokens, &draft);
  return draft;
}

TEST(NgramDrafter, ProposesWhatFollowedTheLongestMatchingSuffix) {
  // Suffix {7, 8} occurs earlier only at 1 (followed by 9, 1); {8} alone last at 5 (then 4, 7).
  const std::vector<int32_t> h = {5, 7, 8, 9, 1, 8, 4, 7, 8};
  EXPECT_EQ(DraftOf(h, 2, 2), (std::vector<int32_t>{9, 1}));
  EXPECT_EQ(DraftOf(h, 1, 2), (std::vector<int32_t>{4, 7}));
}

TEST(NgramDrafter, PrefersTheMostRecentOccurrence) {
  const std::vector<int32_t> h = {1, 2, 3, 1, 2, 4, 1, 2};
  EXPECT_EQ(DraftOf(h, 2, 1), (std::vector<int32_t>{4}));
}

TEST(NgramDrafter, NoMatchGivesNoDraft) {
  EXPECT_TRUE(DraftOf({1, 2, 3, 4}, 3, 4).empty());
  EXPECT_TRUE(DraftOf({1}, 3, 4).empty());
  EXPECT_TRUE(DraftOf({}, 3, 4).empty());
  EXPECT_TRUE(DraftOf({1, 2, 1}, 3, 0).empty());
}

TEST(NgramDrafter, ALoopRepeatsPastTheEnd) {
  // {3} last occurred at 2, followed by {4, 3}: the text loops with period 2.
  EXPECT_EQ(DraftOf({1, 2, 3, 4, 3}, 1, 5), (std::vector<int32_t>{4, 3, 4, 3, 4}));
  EXPECT_EQ(DraftOf({6, 6}, 3, 3), (std::vector<int32_t>{6, 6, 6}));
}

TEST(NgramDrafter, AppendsToTheGivenVector) {
  std::vector<int32_t> draft = {42};
  NgramDrafter(2).Draft(std::vector<int32_t>{1, 2, 1}, 1, &draft);
  EXPECT_EQ(draft, (std::vector<int32_t>{42, 2}));
}

}  // namespace
}  // namespace flashstream
