// The streaming weight store: globals and the planned resident layers are read once at open
// (O_DIRECT, with progress); every other layer is read for each forward pass into a ring of
// staging slots by a prefetch thread that runs ahead of compute in layer order, so reading
// layer N+1..N+k overlaps computing layer N. The bytes a kernel sees are the file's bytes
// whichever path they took, so streamed and resident runs are bitwise identical.
#pragma once

#include <memory>

#include "io/direct_reader.h"
#include "store/pacer.h"
#include "store/residency_planner.h"
#include "store/weight_store.h"

namespace flashstream {

struct StreamingOptions {
  uint64_t budget_bytes = 0;  // weights + staging (--ram); 0 = everything resident
  int min_slots = 2;
  int max_slots = 4;
  double read_gbps = 0;       // measured read bandwidth, for the plan's speed limit
  DirectReaderOptions io;
  bool pacer = false;         // pace reads with the token-bucket controller
  bool trace = false;         // record a per-layer I/O and compute timeline
  // Tensors less than this many bytes apart are read as one extent (gap included). The
  // expert cache sets 0 so the resident part holds none of the experts between tensors.
  uint64_t max_gap = 1 << 20;
};

// One layer's passage through the pipeline, in seconds since the store opened.
struct LayerEvent {
  int layer = 0;
  double io_begin = 0, io_end = 0;            // read of its weights (0, 0 when resident)
  double compute_begin = 0, compute_end = 0;  // Acquire() returned .. Release()
};

// Per-layer extents and byte counts for planning, without reading anything.
struct LayerLayout {
  uint64_t global_bytes = 0;
  std::vector<uint64_t> layer_bytes;
};
LayerLayout MeasureLayout(const ModelIndex& index);

// Plans with options.budget_bytes and opens the store; the plan is returned through `plan`.
Result<std::unique_ptr<WeightStore>> OpenStreamingStore(const ModelIndex& index, const StreamingOptions& options,
                                                        const ProgressFn& progress, ResidencyPlan* plan);

// The timeline recorded with StreamingOptions::trace (empty for other stores).
const std::vector<LayerEvent>* StoreTrace(const WeightStore& store);

}  // namespace flashstream
