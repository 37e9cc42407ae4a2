#include "store/residency_planner.h"

#include <fmt/format.h>  // fmt::format for messages

#include <algorithm>
#include <numeric>

namespace flashstream {
namespace {

double GiB(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

// Marks `count` of n layers resident, spread evenly (layer i*n/count rounded).
std::vector<bool> SpreadResident(int n, int count) {
  std::vector<bool> resident(static_cast<size_t>(n), false);
  for (int i = 0; i < count; ++i) {
    resident[static_cast<size_t>((2 * i + 1) * n / (2 * count))] = true;
  }
  return resident;
}

}  // namespace

int ResidencyPlan::resident_layers() const {
  return static_cast<int>(std::count(layer_resident.begin(), layer_resident.end(), true));
}

std::string ResidencyPlan::Describe() const {
  std::string s = fmt::format("plan: {} of {} layers resident, {:.2f} GiB resident", resident_layers(),
                              layer_resident.size(), GiB(resident_bytes));
  if (!streams()) return s + ", nothing streams";
  s += fmt::format(", {:.2f} GiB streamed per token through {} staging slots of {:.1f} MiB (lookahead {})",
                   GiB(streamed_bytes_per_pass), staging_slots, slot_bytes / 1048576.0, staging_slots - 1);
  if (limit_tps > 0) s += fmt::format("; {} limit {:.2f} tok/s", tier, limit_tps);
  return s;
}

Result<ResidencyPlan> PlanResidency(const PlanInput& in) {
  const int n = static_cast<int>(in.layer_bytes.size());
  if (in.min_slots < 1 || in.max_slots < in.min_slots) {
    return Errorf("planner: staging slots must satisfy 1 <= min ({}) <= max ({})", in.min_slots, in.max_slots);
  }
  ResidencyPlan plan;
  plan.tier = in.tier;
  const uint64_t all_layers = std::accumulate(in.layer_bytes.begin(), in.layer_bytes.end(), uint64_t{0});
  if (in.budget_bytes == 0 || in.global_bytes + all_layers <= in.budget_bytes || n == 0) {
    plan.layer_resident.assign(static_cast<size_t>(n), true);
    plan.resident_bytes = in.global_bytes + all_layers;
    return plan;
  }
  const uint64_t slot = *std::max_element(in.layer_bytes.begin(), in.layer_bytes.end());
  const uint64_t minimum = in.global_bytes + static_cast<uint64_t>(in.min_slots) * slot;
  if (in.budget_bytes < minimum) {
    return Errorf(
        "{} {:.2f} GiB is below the minimum working set of {:.2f} GiB ({:.2f} GiB resident "
        "embeddings/head/norms + {} staging slots of {:.2f} GiB, the largest layer)",
        in.budget_flag, GiB(in.budget_bytes), GiB(minimum), GiB(in.global_bytes), in.min_slots, GiB(slot));
  }
  // Layers are (nearly) equal in size: count how many fit after the ring, then use leftover
  // memory that cannot hold another layer for extra slots (deeper lookahead). Empty layers (a
  // store over part of a model) are resident for free and take no part.
  std::vector<int> real;
  for (int l = 0; l < n; ++l) {
    if (in.layer_bytes[static_cast<size_t>(l)] > 0) real.push_back(l);
  }
  const int m = static_cast<int>(real.size());
  int slots = in.min_slots;
  uint64_t free_bytes = in.budget_bytes - minimum;
  std::vector<uint64_t> sorted;
  for (int l : real) sorted.push_back(in.layer_bytes[static_cast<size_t>(l)]);
  std::sort(sorted.begin(), sorted.end());
  int count = 0;
  while (count < m - 1 && sorted[static_cast<size_t>(count)] <= free_bytes) {
    free_bytes -= sorted[static_cast<size_t>(count)];
    ++count;
  }
  while (slots < in.max_slots && free_bytes >= slot) {
    free_bytes -= slot;
    ++slots;
  }
  plan.layer_resident.assign(static_cast<size_t>(n), true);
  const std::vector<bool> spread = SpreadResident(m, count);
  for (int i = 0; i < m; ++i) {
    plan.layer_resident[static_cast<size_t>(real[static_cast<size_t>(i)])] = spread[static_cast<size_t>(i)];
  }
  plan.staging_slots = slots;
  plan.slot_bytes = slot;
  plan.staging_bytes = static_cast<uint64_t>(slots) * slot;
  plan.resident_bytes = in.global_bytes;
  for (int l = 0; l < n; ++l) {
    (plan.layer_resident[static_cast<size_t>(l)] ? plan.resident_bytes : plan.streamed_bytes_per_pass) +=
        in.layer_bytes[static_cast<size_t>(l)];
  }
  // The resident set may include more than `count` bytes-sorted smallest layers' worth when sizes
  // differ; shed resident layers until the plan fits.
  for (int l = n - 1; l >= 0 && plan.resident_bytes + plan.staging_bytes > in.budget_bytes; --l) {
    if (!plan.layer_resident[static_cast<size_t>(l)] || in.layer_bytes[static_cast<size_t>(l)] == 0) continue;
    plan.layer_resident[static_cast<size_t>(l)] = false;
    plan.resident_bytes -= in.layer_bytes[static_cast<size_t>(l)];
    plan.streamed_bytes_per_pass += in.layer_bytes[static_cast<size_t>(l)];
  }
  if (in.read_gbps > 0) plan.limit_tps = in.read_gbps * 1e9 / static_cast<double>(plan.streamed_bytes_per_pass);
  return plan;
}

}  // namespace flashstream
