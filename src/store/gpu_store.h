// The GPU weight store (implemented with the CUDA backend, src/backend/cuda/gpu_store.cpp; a
// CPU-only build's OpenGpuStore fails). At open, the residency planner splits the model with
// the --vram budget: globals and the layers that fit are copied to device memory (with
// progress); the others live in pinned host memory, or, with a host budget (--ram), behind a
// host StreamingStore that reads them from disk. Those are copied to the GPU ahead of use on a
// copy stream of their own into a ring of device buffers: events order each copy after the
// compute that last read its buffer and the compute after its copy, so copies overlap compute
// and the host does not wait for either (with pinned memory). A view is device memory holding
// the file's bytes at the same offset within its layer on every path, so streamed and resident
// runs are bitwise identical. Acquire/Release follow the WeightStore contract; not thread-safe.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "store/residency_planner.h"
#include "store/streaming_store.h"
#include "store/weight_store.h"

namespace flashstream {

struct GpuStoreOptions {
  uint64_t vram_budget_bytes = 0;  // device memory for weights (resident + ring); 0 = all resident
  int ring_slots = 3;              // device buffers streamed layers pass through, >= 2
  // > 0: the layers not on the GPU go through a host streaming store with this budget (--ram);
  // 0: each is read once into pinned host memory.
  uint64_t host_budget_bytes = 0;
  StreamingOptions host;  // reader options (and, with a host budget, that store's options)
  double pcie_gbps = 0;   // pinned host -> device bandwidth for the plan's limit; 0 = unknown
};

// `backend` must be the CUDA backend the model computes with (the store orders its copies with
// that backend's stream) and must outlive the store. The plan is returned through `plan`.
Result<std::unique_ptr<WeightStore>> OpenGpuStore(const ModelIndex& index, Backend& backend,
                                                  const GpuStoreOptions& options, const ProgressFn& progress,
                                                  ResidencyPlan* plan);

}  // namespace flashstream
