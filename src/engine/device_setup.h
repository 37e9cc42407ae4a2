// Device selection for a Session: parses EngineOptions::device and, for a GPU, opens its
// backend and weight store with the --vram budget (measuring the host -> device bandwidth when
// layers will stream) and says on stderr what it decided. Stateless functions.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "core/status.h"
#include "flashstream/options.h"
#include "store/residency_planner.h"
#include "store/weight_store.h"

namespace flashstream {

// -1 for "cpu", the GPU index for "cuda" (0) or "cuda:N"; an error for anything else.
Result<int> ParseDevice(const std::string& device);

// The CUDA backend on `gpu` and a GPU weight store for `index`; kv_bytes is what the KV cache
// will take at full context (kept free when the budget is automatic).
Status OpenGpuSession(const ModelIndex& index, const EngineOptions& options, int gpu, uint64_t kv_bytes,
                      const ProgressFn& progress, std::unique_ptr<Backend>* backend,
                      std::unique_ptr<WeightStore>* store, ResidencyPlan* plan);

}  // namespace flashstream
