// ExpertCache: routed experts of a mixture-of-experts model held in a fixed number of slots,
// read from the file on demand with O_DIRECT (each expert matrix one contiguous extent, so
// 3 reads per expert from a stacked GGUF), least recently used slot replaced. Everything else
// (attention, norms, routers, shared experts) stays in the resident WeightStore; the MoE block
// asks the cache for each chosen expert right after routing. The views are the file's bytes,
// so results are bitwise those of a resident run.
// Owns a copy of the index, its readers and slots; not thread-safe (one forward pass at a time). A view is valid
// until the next Expert() call.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "formats/model_index.h"
#include "io/direct_reader.h"

namespace flashstream {

// gate [n_ff_expert, n_embd], up [n_ff_expert, n_embd], down [n_embd, n_ff_expert].
struct ExpertViews {
  TensorView gate, up, down;
};

// Supplies routed experts to the MoE block (models/moe_block.h).
class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Expert e of layer l; errors name the file and tensor.
  virtual Result<ExpertViews> Expert(int layer, int expert) = 0;
};

struct ExpertCacheStats {
  int slots = 0;
  uint64_t slot_bytes = 0;
  uint64_t hits = 0;        // Expert() calls served from a slot
  uint64_t misses = 0;      // ... that read the expert
  uint64_t bytes_read = 0;  // bytes read from files (aligned extents)
  double io_seconds = 0;    // time spent reading
};

class ExpertCache : public ExpertSource {
 public:
  // Slots as many as cache_bytes holds (at least 1). Precondition: index.config.n_expert > 0
  // and the experts are not MLX-quantized (their companions would need more extents).
  static Result<std::unique_ptr<ExpertCache>> Open(const ModelIndex& index, uint64_t cache_bytes,
                                                   const DirectReaderOptions& io);
  // Bytes of one slot: the largest expert's three aligned extents.
  static uint64_t SlotBytes(const ModelIndex& index);

  Result<ExpertViews> Expert(int layer, int expert) override;
  const ExpertCacheStats& stats() const { return stats_; }

 private:
  struct Part {
    const TensorInfo* info = nullptr;
    AlignedRange range;
  };
  ExpertCache() = default;
  Status Load(int key, int slot);

  ModelIndex index_;  // a copy: parts_ point into it
  int n_expert_ = 0;
  std::vector<std::array<Part, 3>> parts_;                   // [n_layers * n_expert] gate, up, down
  std::vector<std::unique_ptr<DirectReader>> readers_;       // one per file
  AlignedBuffer buffer_;                                     // [slots, slot_bytes]
  std::vector<int> slot_key_;                                // key held by each slot, -1 = empty
  std::list<int> lru_;                                       // slots, most recently used first
  std::unordered_map<int, std::list<int>::iterator> where_;  // key -> its slot's lru_ entry
  ExpertCacheStats stats_;
};

}  // namespace flashstream
