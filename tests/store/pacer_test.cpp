#include "store/pacer.h"

#include <gtest/gtest.h>

namespace flashstream {
namespace {

TEST(Pacer, UnlimitedByDefault) {
  Pacer p(PacerOptions{});
  EXPECT_EQ(p.Reserve(0.0, 1'000'000'000), 0.0);
  EXPECT_EQ(p.rate(), 0.0);
}

TEST(Pacer, TokenBucketDelaysReadsBeyondTheRate) {
  PacerOptions o;
  o.initial_rate = 100e6;
  o.burst_bytes = 50e6;
  Pacer p(o);
  EXPECT_EQ(p.Reserve(0.0, 50'000'000), 0.0);           // the burst
  EXPECT_NEAR(p.Reserve(0.0, 100'000'000), 1.0, 1e-9);  // 100 MB more at 100 MB/s
  // After waiting that second the bucket has refilled what was owed.
  EXPECT_NEAR(p.Reserve(1.0, 0), 0.0, 1e-9);
}

TEST(Pacer, SlowsDownWhenReadsSlowCompute) {
  PacerOptions o;
  o.min_rate = 10e6;
  Pacer p(o);
  for (int i = 0; i < 5; ++i) p.OnLayer(0.010, false, 0, 2e9);  // quiet baseline 10 ms
  EXPECT_EQ(p.rate(), 0.0);
  for (int i = 0; i < 5; ++i) p.OnLayer(0.015, true, 0, 2e9);   // 50% slower with reads in flight
  EXPECT_GT(p.rate(), 0.0);
  EXPECT_LT(p.rate(), 2e9);
}

TEST(Pacer, OpensUpWhenComputeWaits) {
  PacerOptions o;
  o.initial_rate = 100e6;
  Pacer p(o);
  p.OnLayer(0.010, true, 0.005, 1e9);
  EXPECT_NEAR(p.rate(), 125e6, 1);
  for (int i = 0; i < 20; ++i) p.OnLayer(0.010, true, 0.005, 1e9);
  EXPECT_EQ(p.rate(), 0.0);  // beyond twice the disk's rate: unlimited
}

TEST(Pacer, NeverBelowMinimumRate) {
  PacerOptions o;
  o.min_rate = 10e6;
  Pacer p(o);
  p.OnLayer(0.010, false, 0, 20e6);
  for (int i = 0; i < 100; ++i) p.OnLayer(0.050, true, 0, 20e6);
  EXPECT_GE(p.rate(), 10e6);
}

}  // namespace
}  // namespace flashstream
