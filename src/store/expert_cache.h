// ExpertCache: routed experts of a mixture-of-experts model held in a fixed number of slots,
// read from the file with O_DIRECT by a pool of I/O threads (several experts in flight, each
// expert matrix one contiguous extent: 3 reads per expert from a stacked GGUF, 9 for MLX
// experts, whose matrices each have scales and biases beside them), the slot to
// refill chosen by a replacement policy (store/expert_policy.h). Everything else (attention,
// norms, routers, shared experts) stays in the resident WeightStore. The MoE block, per layer:
// Need() with the routed experts (their missing ones start reading at once), Prefetch() with
// the next layer's predicted experts (lookahead routing: read in the background, never used
// unless the real routing picks them), then Expert() for each routed expert in ascending id.
// The views are the file's bytes, so results are bitwise those of a resident run.
// Owns a copy of the index, its I/O threads, readers and slots; borrows the router views given
// to set_routers (they must outlive it). Call from one compute thread (one forward pass at a
// time); stats() may be called from any thread. A view is valid until the next Expert() call.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "formats/model_index.h"
#include "io/direct_reader.h"
#include "store/expert_policy.h"

namespace flashstream {

// gate [n_ff_expert, n_embd], up [n_ff_expert, n_embd], down [n_embd, n_ff_expert].
struct ExpertViews {
  TensorView gate, up, down;
};

// Supplies routed experts to the MoE block (models/moe_block.h). Per layer: Need(), then
// optionally Prefetch() for the next layer, then Expert() for each needed expert in order.
class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Layer l's routed experts (ascending, unique), each asked next through Expert() in that
  // order: starts reading the missing ones.
  virtual void Need(int /*layer*/, std::span<const int32_t> /*experts*/) {}
  // A prediction of layer l's experts (lookahead routing): may start reading them. A hint only.
  virtual void Prefetch(int /*layer*/, std::span<const int32_t> /*experts*/) {}
  // Layer l's router [n_expert, n_embd] for lookahead routing; nullptr = no lookahead.
  virtual const TensorView* Router(int /*layer*/) const { return nullptr; }
  // Whether, after the last layer of a pass, the block predicts the next token's layer-0
  // experts (layer 0's router on the last layer's input) and hands them to Prefetch(0, ...).
  virtual bool PrefetchNextToken() const { return false; }
  // Expert e of layer l; errors name the file and tensor.
  virtual Result<ExpertViews> Expert(int layer, int expert) = 0;
};

struct ExpertCacheStats {
  int slots = 0;
  uint64_t slot_bytes = 0;
  ExpertPolicy policy = kDefaultExpertPolicy;
  int io_threads = 0;
  uint64_t hits = 0;                 // routed experts already in a slot (not brought by a pending prefetch)
  uint64_t prefetch_hits = 0;        // ... brought (or in flight) by a lookahead prefetch
  uint64_t misses = 0;               // ... read on demand
  uint64_t bytes_read = 0;           // bytes read from files (aligned extents), prefetches included
  uint64_t prefetch_reads = 0;       // experts read by prefetches (used or not)
  uint64_t predicted = 0;            // lookahead: experts predicted for a layer
  uint64_t predicted_used = 0;       // ... that the real routing of that layer then chose
  uint64_t routed = 0;               // routed experts of the layers that had a prediction
  uint64_t next_predicted = 0;       // next-token prefetch: layer-0 experts predicted after a pass
  uint64_t next_predicted_used = 0;  // ... that the next pass's layer 0 then chose
  uint64_t next_routed = 0;          // layer-0 routed experts of the passes that had a prediction
  double io_seconds = 0;             // summed read time of the I/O threads
  double wait_seconds = 0;           // time the compute thread waited for an expert

  // Counters accumulated after `before` (gauges keep their current value).
  ExpertCacheStats Since(const ExpertCacheStats& before) const;
  double hit_rate() const;        // (hits + prefetch_hits) / uses
  double precision() const;       // predicted_used / predicted
  double recall() const;          // predicted_used / routed
  double next_precision() const;  // next_predicted_used / next_predicted
};

struct ExpertCacheOptions {
  ExpertPolicy policy = kDefaultExpertPolicy;
  int io_threads = 8;       // experts read concurrently (threads, each one expert at a time)
  double half_life = 0;     // kDecay: uses for a count to halve; 0 = 8 tokens' worth of uses
  bool next_token = false;  // with routers: prefetch the next token's layer-0 experts
};

class ExpertCache : public ExpertSource {
 public:
  // Slots as many as cache_bytes holds (at least 1). Precondition: index.config.n_expert > 0.
  static Result<std::unique_ptr<ExpertCache>> Open(const ModelIndex& index, uint64_t cache_bytes,
                                                   const DirectReaderOptions& io, const ExpertCacheOptions& options);
  // Bytes of one slot: the largest expert's aligned extents (3 matrices, MLX companions included).
  static uint64_t SlotBytes(const ModelIndex& index);
  ~ExpertCache() override;
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  // Routers [n_layers] for lookahead routing (borrowed views); empty = no lookahead.
  void set_routers(std::vector<TensorView> routers) { routers_ = std::move(routers); }

  void Need(int layer, std::span<const int32_t> experts) override;
  void Prefetch(int layer, std::span<const int32_t> experts) override;
  const TensorView* Router(int layer) const override;
  bool PrefetchNextToken() const override { return next_token_ && !routers_.empty(); }
  Result<ExpertViews> Expert(int layer, int expert) override;
  ExpertCacheStats stats() const;

 private:
  struct Part {
    const TensorInfo* info = nullptr;
    AlignedRange range;
  };
  enum class SlotState : uint8_t { kEmpty, kLoading, kReady };
  struct Job {
    int key = -1;
    int slot = -1;
    bool prefetch = false;
  };
  ExpertCache() = default;
  void IoThread(int worker);
  // Under mu_: whether a read may take slot s now.
  bool Evictable(int s) const;
  // Under mu_: starts reading key into a free slot; false when no slot may be taken.
  bool StartRead(int key, bool prefetch, bool urgent);
  // Under mu_: starts reads of needed keys not yet in a slot while slots may be taken.
  void StartNeeded();

  ModelIndex index_;  // a copy: parts_ point into it
  int n_expert_ = 0;
  // [n_layers * n_expert] gate, up, down, each as weight, scales, biases (info null unless MLX),
  // in the order they lie in a slot.
  std::vector<std::array<Part, 9>> parts_;
  std::vector<TensorView> routers_;  // [n_layers] or empty
  bool next_token_ = false;          // ExpertCacheOptions::next_token
  AlignedBuffer buffer_;             // [slots, slot_bytes]

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // jobs queued or stopping
  std::condition_variable done_cv_;  // a read finished
  std::unique_ptr<ExpertSlots> table_;
  std::vector<SlotState> state_;     // [slots]
  std::vector<uint8_t> prefetched_;  // [slots] filled by a prefetch its layer has not yet resolved
  std::vector<uint8_t> needed_;      // [n_keys] routed in the current layer and not yet handed out
  std::vector<int> pending_;         // needed keys not yet in a slot, ascending
  std::vector<int32_t> predicted_;   // the last Prefetch's experts
  int predicted_layer_ = -1;
  int in_use_ = -1;             // slot of the last view handed out
  std::deque<Job> urgent_;      // reads of routed experts, in the order they are asked
  std::deque<Job> prefetches_;  // lookahead reads, after every urgent one
  Status error_;                // the first failed read
  bool stop_ = false;
  ExpertCacheStats stats_;
  std::vector<std::thread> threads_;
  std::vector<std::vector<std::unique_ptr<DirectReader>>> readers_;  // [io_threads][files]
};

}  // namespace flashstream
