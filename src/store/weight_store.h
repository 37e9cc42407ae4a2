// WeightStore: hands a model the tensors of one layer as views that stay valid until the model
// releases that layer. Whether a tensor is resident in RAM, memory-mapped or streamed through a
// staging ring is the store's business; a model only sees TensorViews, so the same kernels run
// on every path (which is what makes streamed and resident runs bitwise identical).
//
// Call order per forward pass: Acquire(l) ... Release(l) for l = 0..n_layers-1 in order (a
// streaming store reads ahead along that order). Global tensors are always resident.
// Not thread-safe: one forward pass uses a store at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "formats/model_index.h"

namespace flashstream {

// Views of one layer's tensors keyed by role: the canonical name without "blk.{i}."
// ("attn_q.weight"). Owned by the store; valid until the layer is released.
class LayerWeights {
 public:
  void Add(std::string role, TensorView view) { tensors_.emplace_back(std::move(role), view); }
  const TensorView* Find(std::string_view role) const;
  // Precondition: the model checked at load that the tensor exists.
  const TensorView& Get(std::string_view role) const;
  void Clear() { tensors_.clear(); }
  // Points each MLX-quantized view among `tensors` (the group these views were built from) at
  // its companion scales and biases views. Precondition: the reader put the companions in the
  // same group (ReadHfModel does).
  void LinkCompanions(const std::vector<const TensorInfo*>& tensors);

 private:
  std::vector<std::pair<std::string, TensorView>> tensors_;
};

// One layer's share of the counters: for --verbose's per-layer table.
struct LayerTiming {
  bool streamed = false;       // read for every pass (else resident)
  uint64_t bytes = 0;          // weight bytes of the layer
  int passes = 0;              // forward passes that computed it
  double io_seconds = 0;       // time its reads took (streamed layers)
  double wait_seconds = 0;     // time compute waited for it
  double compute_seconds = 0;  // Acquire() returned .. Release()
};

// Counters a store keeps for the end-of-run summary.
struct StoreStats {
  uint64_t resident_bytes = 0;       // weight bytes held in memory for the whole run
  uint64_t staging_bytes = 0;        // staging ring for streamed layers
  uint64_t bytes_read = 0;           // bytes read from files after load (streaming)
  double io_busy_seconds = 0;        // time the prefetcher spent reading
  double io_wait_seconds = 0;        // time Acquire() blocked on reads
  int lookahead = 0;                 // layers the prefetcher may run ahead (adaptive)
  double pacer_rate = 0;             // pacer's read rate in bytes/s; 0 = unpaced
  double pacer_delay_seconds = 0;    // time the pacer held reads back
  double quiet_compute_seconds = 0;  // pacer's EMA of a layer's compute with no reads in flight
  double busy_compute_seconds = 0;   // ... and with reads in flight
  uint64_t h2d_bytes = 0;            // GPU stores: weight bytes copied host -> device after load
  uint64_t gpu_memory_peak = 0;      // GPU stores: most device memory in use at once (whole device)
  std::vector<LayerTiming> layers;   // [n_layers]; empty for stores that keep no timings

  // The counters accumulated after `before` was taken (gauges keep their current value).
  StoreStats Since(const StoreStats& before) const;
};

class WeightStore {
 public:
  virtual ~WeightStore() = default;
  virtual const ModelIndex& index() const = 0;
  // A tensor outside the layers ("token_embd.weight", "output_norm.weight", "output.weight");
  // nullptr when absent.
  virtual const TensorView* Global(std::string_view name) const = 0;
  // Blocks until the layer's tensors are readable. I/O failures (short read, file changed)
  // come back as errors naming the file and tensor.
  virtual Result<const LayerWeights*> Acquire(int layer) = 0;
  virtual void Release(int layer) = 0;
  virtual StoreStats stats() const = 0;
};

// Reports load progress: bytes done out of total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Splits a canonical tensor name into its layer and role: "blk.3.attn_q.weight" -> {3,
// "attn_q.weight"}; global tensors give layer -1 and the full name.
std::pair<int, std::string> SplitLayerName(const std::string& name);

// The resident and streaming stores: see store/streaming_store.h (a budget of 0 keeps
// everything resident).
// Maps each file read-only; pages come from the page cache on first touch (the naive baseline).
Result<std::unique_ptr<WeightStore>> OpenMmapStore(const ModelIndex& index);

}  // namespace flashstream
