#include "store/residency_planner.h"

#include <gtest/gtest.h>

#include <numeric>

namespace flashstream {
namespace {

PlanInput Uniform(int layers, uint64_t layer_bytes, uint64_t globals, uint64_t budget) {
  PlanInput in;
  in.layer_bytes.assign(static_cast<size_t>(layers), layer_bytes);
  in.global_bytes = globals;
  in.budget_bytes = budget;
  return in;
}

TEST(ResidencyPlanner, EverythingResidentWhenItFits) {
  Result<ResidencyPlan> plan = PlanResidency(Uniform(4, 100, 50, 450));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_FALSE(plan->streams());
  EXPECT_EQ(plan->resident_layers(), 4);
  EXPECT_EQ(plan->resident_bytes, 450u);
}

TEST(ResidencyPlanner, UnlimitedBudgetIsResident) {
  Result<ResidencyPlan> plan = PlanResidency(Uniform(32, 1000, 10, 0));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->resident_layers(), 32);
}

TEST(ResidencyPlanner, BelowMinimumWorkingSetNamesTheMinimum) {
  // globals 50 + 2 slots x 100 = 250.
  Result<ResidencyPlan> plan = PlanResidency(Uniform(8, 100'000'000, 50'000'000, 249'000'000));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("minimum working set of 0.23 GiB"), std::string::npos)
      << plan.status().message();
  EXPECT_TRUE(PlanResidency(Uniform(8, 100'000'000, 50'000'000, 250'000'000)).ok());
}

TEST(ResidencyPlanner, FillsBudgetWithWholeLayersAfterTheRing) {
  // 10 layers of 100, globals 50, budget 600: ring 200 -> 350 left -> 3 resident layers, 50 spare.
  Result<ResidencyPlan> plan = PlanResidency(Uniform(10, 100, 50, 600));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->streams());
  EXPECT_EQ(plan->staging_slots, 2);
  EXPECT_EQ(plan->resident_layers(), 3);
  EXPECT_EQ(plan->streamed_bytes_per_pass, 700u);
  EXPECT_LE(plan->resident_bytes + plan->staging_bytes, 600u);
}

TEST(ResidencyPlanner, ResidentLayersAreSpreadOverDepth) {
  Result<ResidencyPlan> plan = PlanResidency(Uniform(12, 100, 0, 200 + 300));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->resident_layers(), 3);
  // Spread: one resident layer in each third of the depth.
  for (int third = 0; third < 3; ++third) {
    int in_third = 0;
    for (int l = third * 4; l < third * 4 + 4; ++l) in_third += plan->layer_resident[static_cast<size_t>(l)];
    EXPECT_EQ(in_third, 1) << "third " << third;
  }
}

TEST(ResidencyPlanner, NeverPlansOverBudgetWithUnequalLayers) {
  PlanInput in;
  in.layer_bytes = {10, 300, 20, 280, 15, 250, 30, 260};
  in.global_bytes = 40;
  for (uint64_t budget = 40 + 2 * 300; budget < 1300; budget += 7) {
    in.budget_bytes = budget;
    Result<ResidencyPlan> plan = PlanResidency(in);
    ASSERT_TRUE(plan.ok()) << budget;
    if (!plan->streams()) continue;
    EXPECT_LE(plan->resident_bytes + plan->staging_bytes, budget) << budget;
    const uint64_t all = std::accumulate(in.layer_bytes.begin(), in.layer_bytes.end(), uint64_t{0});
    EXPECT_EQ(plan->resident_bytes + plan->streamed_bytes_per_pass, all + in.global_bytes);
  }
}

TEST(ResidencyPlanner, LimitFollowsBandwidth) {
  PlanInput in = Uniform(10, 1'000'000'000, 0, 4'000'000'000);
  in.read_gbps = 2.0;
  Result<ResidencyPlan> plan = PlanResidency(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->resident_layers(), 2);
  EXPECT_NEAR(plan->limit_tps, 2.0 / 8.0, 1e-9);
}

TEST(ResidencyPlanner, SpareMemoryDeepensLookahead) {
  // Last layer always streams when the model does not fit; 1 layer of spare -> 3rd slot.
  PlanInput in = Uniform(3, 100, 0, 290);
  in.max_slots = 4;
  Result<ResidencyPlan> plan = PlanResidency(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_GE(plan->staging_slots, 2);
  EXPECT_LE(plan->resident_bytes + plan->staging_bytes, 290u);
}

TEST(ResidencyPlanner, EmptyLayersAreResidentAndTakeNoPart) {
  // A store over part of a model (the GPU store's host tier): layers 0..3 hold nothing here,
  // 4..9 hold 100 each; budget = ring of 2 + 2 whole layers.
  PlanInput in = Uniform(10, 100, 0, 400);
  for (size_t l = 0; l < 4; ++l) in.layer_bytes[l] = 0;
  Result<ResidencyPlan> plan = PlanResidency(in);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  for (size_t l = 0; l < 4; ++l) EXPECT_TRUE(plan->layer_resident[l]) << "empty layer " << l;
  int real_resident = 0;
  for (size_t l = 4; l < 10; ++l) real_resident += plan->layer_resident[l];
  EXPECT_EQ(real_resident, 2);
  EXPECT_EQ(plan->streamed_bytes_per_pass, 400u);
  EXPECT_EQ(plan->resident_bytes, 200u);
}

TEST(ResidencyPlanner, GpuBudgetNamesItsFlagAndTier) {
  PlanInput in = Uniform(8, 100'000'000, 50'000'000, 100'000'000);
  in.budget_flag = "--vram";
  in.tier = "PCIe";
  Result<ResidencyPlan> low = PlanResidency(in);
  ASSERT_FALSE(low.ok());
  EXPECT_EQ(low.status().message().rfind("--vram 0.09 GiB is below", 0), 0u) << low.status().message();
  in.budget_bytes = 450'000'000;
  in.read_gbps = 50;  // 50 GB/s over 600 MB streamed per pass
  Result<ResidencyPlan> plan = PlanResidency(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->Describe().find("PCIe limit 83.33 tok/s"), std::string::npos) << plan->Describe();
}

}  // namespace
}  // namespace flashstream
