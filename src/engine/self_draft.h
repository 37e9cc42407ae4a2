// SelfDraftStore: a streamed model's own low-bit copy, for --self-draft. For every layer the
// base store streams it holds a resident copy whose matrices are requantized to Q4_0 (4 bits)
// or Q8_0 (8 bits), other tensors copied as they are; resident layers and globals are the base
// store's own views, shared rather than copied. A forward pass through it approximates the
// model with no I/O, which is what drafting needs. The copy is cached on disk
// (engine/self_draft_cache.h) and read back on later loads instead of being rebuilt. For the
// GPU, MoveTo() puts the copy in backend memory and serves the GPU store's resident layers.
// Borrows `base` (and the backend after MoveTo), which must outlive it; not thread-safe (like
// every store).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/thread_pool.h"
#include "store/residency_planner.h"
#include "store/weight_store.h"

namespace flashstream {

class SelfDraftStore : public WeightStore {
 public:
  // Bytes the copy of the layers not resident in `layer_resident` takes at `bits` (4 or 8).
  static uint64_t CopyBytes(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits);
  // Bytes to take out of `in.budget_bytes` for the copy: the copy covers the layers that stream,
  // which grow as the budget shrinks, so plan, size the copy, and plan again until the copy
  // fits what it was given. An error naming in.budget_flag when no split leaves room for it.
  static Result<uint64_t> Reserve(const ModelIndex& index, PlanInput in, int bits);
  // Reads the copy from the cache folder `cache_dir` when it holds this model's copy; else reads
  // each streamed layer once through `base`, requantizes it on `pool`, and writes the copy to
  // `cache_dir` (a failed write is reported on stderr and the run goes on). "" = no cache.
  static Result<std::unique_ptr<SelfDraftStore>> Build(WeightStore& base, const std::vector<bool>& layer_resident,
                                                       int bits, ThreadPool& pool, const ProgressFn& progress,
                                                       const std::string& cache_dir);

  const ModelIndex& index() const override { return base_->index(); }
  const TensorView* Global(std::string_view name) const override { return base_->Global(name); }
  Result<const LayerWeights*> Acquire(int layer) override;
  void Release(int layer) override;
  StoreStats stats() const override { return {}; }
  // Moves the copy into `backend`'s memory (one allocation per copied layer, uploaded once) and
  // serves the other layers and the globals from `base` (the GPU store the model computes with).
  Status MoveTo(Backend& backend, WeightStore& base);
  ~SelfDraftStore() override;
  uint64_t copy_bytes() const { return copy_bytes_; }
  bool from_cache() const { return from_cache_; }  // read from the disk cache, not built

 private:
  explicit SelfDraftStore(WeightStore& base) : base_(&base) {}
  // Where each tensor of a layer that the copy holds sits in the layer's buffer (self_draft.cpp).
  struct LayerLayout;
  static LayerLayout LayoutOf(const ModelIndex& index, int layer, int bits);
  // Sets copies_[layer]'s views over buffers_[layer] (sized by the caller) at `layout`.
  void MapViews(int layer, const LayerLayout& layout, int bits, std::byte* buffer);
  // Requantizes streamed `layer` into buffers_[layer] at `layout`.
  Status Requantize(int layer, const LayerLayout& layout, int bits, ThreadPool& pool);

  WeightStore* base_;
  std::vector<bool> copied_;                     // [n_layers]: the layer is in copies_
  std::vector<LayerWeights> copies_;             // [n_layers]; empty where not copied
  std::vector<std::vector<std::byte>> buffers_;  // [n_layers] host bytes behind copies_ (before MoveTo)
  Backend* device_ = nullptr;                    // after MoveTo: owns device_buffers_
  std::vector<void*> device_buffers_;            // [n_layers] backend memory behind copies_; null where not copied
  int bits_ = 4;
  uint64_t copy_bytes_ = 0;
  bool from_cache_ = false;
};

}  // namespace flashstream
