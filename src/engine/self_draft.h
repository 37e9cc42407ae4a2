// SelfDraftStore: a streamed model's own low-bit copy, for --self-draft. For every layer the
// base store streams it holds a resident copy whose matrices are requantized to Q4_0 (4 bits)
// or Q8_0 (8 bits), other tensors copied as they are; resident layers and globals are the base
// store's own views, shared rather than copied. A forward pass through it approximates the
// model with no I/O, which is what drafting needs. Borrows `base`, which must outlive it; not
// thread-safe (like every store).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "store/weight_store.h"

namespace flashstream {

class SelfDraftStore : public WeightStore {
 public:
  // Bytes the copy of the layers not resident in `layer_resident` takes at `bits` (4 or 8).
  static uint64_t CopyBytes(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits);
  // Reads each streamed layer once through `base` and requantizes it on `pool`.
  static Result<std::unique_ptr<SelfDraftStore>> Build(WeightStore& base, const std::vector<bool>& layer_resident,
                                                       int bits, ThreadPool& pool, const ProgressFn& progress);

  const ModelIndex& index() const override { return base_.index(); }
  const TensorView* Global(std::string_view name) const override { return base_.Global(name); }
  Result<const LayerWeights*> Acquire(int layer) override;
  void Release(int layer) override;
  StoreStats stats() const override { return {}; }
  uint64_t copy_bytes() const { return copy_bytes_; }

 private:
  explicit SelfDraftStore(WeightStore& base) : base_(base) {}

  WeightStore& base_;
  std::vector<bool> copied_;                     // [n_layers]: the layer is in copies_
  std::vector<LayerWeights> copies_;             // [n_layers]; empty where not copied
  std::vector<std::vector<std::byte>> buffers_;  // [n_layers] bytes behind copies_
  uint64_t copy_bytes_ = 0;
};

}  // namespace flashstream
