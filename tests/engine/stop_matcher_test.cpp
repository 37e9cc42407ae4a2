#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

namespace flashstream {
namespace {

TEST(StopMatcher, PassesTextWithoutStops) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("hello "), "hello ");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, StopsAcrossPieces) {
  StopMatcher m({"<END>"});
  std::string out = m.Push("The answer");
  out += m.Push(" is 4<E");
  EXPECT_FALSE(m.stopped());
  out += m.Push("ND> and more");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "The answer is 4");
  EXPECT_EQ(m.Push("x"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, ReleasesHeldPrefixThatDoesNotMatch) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Push("ST"), "");
  EXPECT_EQ(m.Push("AR"), "STAR");
  EXPECT_EQ(m.Push("S"), "");
  EXPECT_EQ(m.Flush(), "S");
}

TEST(StopMatcher, EarliestOfSeveralStops) {
  StopMatcher m({"bb", "a"});
  EXPECT_EQ(m.Push("xxbbya"), "xx");
  EXPECT_TRUE(m.stopped());
}

}  // namespace
}  // namespace flashstream
