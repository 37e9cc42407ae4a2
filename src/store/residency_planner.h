// The residency planner: a pure function from a memory budget, tensor sizes and measured
// bandwidth to a plan saying which layers stay resident and how the rest streams.
//
// Policy: global tensors (embeddings, output head, final norm) are always resident. When the
// whole model fits the budget, everything is resident. Otherwise a ring of staging slots, each
// the size of the largest streamed layer, is reserved first (at least 2 so that reading layer
// N+1 overlaps computing layer N), then as many whole layers as fit stay resident, spread
// evenly over the depth so the disk keeps reading while resident layers compute.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace flashstream {

struct PlanInput {
  uint64_t budget_bytes = 0;          // weights + staging may use this much; 0 = unlimited
  uint64_t global_bytes = 0;          // tensors outside the layers
  std::vector<uint64_t> layer_bytes;  // bytes each layer occupies when streamed (aligned extents)
  int min_slots = 2;                  // staging slots at least (double buffering)
  int max_slots = 4;                  // staging slots at most (lookahead depth + 1)
  double read_gbps = 0;               // measured streaming bandwidth (GB/s); 0 = unknown
  std::string budget_flag = "--ram";  // how the budget is named in errors ("--vram" for the GPU)
  std::string tier = "disk";          // where streamed layers come from, for Describe()
};

struct ResidencyPlan {
  std::vector<bool> layer_resident;      // [n_layers]
  int staging_slots = 0;                 // 0 when nothing streams
  uint64_t slot_bytes = 0;               // size of each staging slot
  uint64_t resident_bytes = 0;           // globals + resident layers
  uint64_t staging_bytes = 0;            // staging_slots * slot_bytes
  uint64_t streamed_bytes_per_pass = 0;  // bytes read for one forward pass
  double limit_tps = 0;                  // read_gbps / streamed bytes per pass; 0 when unknown or nothing streams
  std::string tier = "disk";             // PlanInput::tier

  bool streams() const { return staging_slots > 0; }
  int resident_layers() const;
  std::string Describe() const;  // a few lines for stderr
};

// Fails when the budget is below the minimum working set (globals + min_slots slots), with
// a message giving that minimum.
Result<ResidencyPlan> PlanResidency(const PlanInput& input);

}  // namespace flashstream
