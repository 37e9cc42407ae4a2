// BackendKvCache: the f32 keys and values of every layer in a backend's memory (device memory
// for the GPU), so attention reads them where it computes. Layout per layer as KvCache:
// k, v [capacity, kv_width]; memory grows on demand (geometrically, old positions copied on the
// backend) up to max_positions. Borrows the backend, which must outlive it. Move-only; not
// thread-safe.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "kv/kv_cache.h"

namespace flashstream {

class BackendKvCache final : public KvCache {
 public:
  BackendKvCache(Backend& backend, int n_layers, int kv_width, int max_positions);

  int n_past() const override { return n_past_; }
  int max_positions() const override { return max_positions_; }
  // Fails when the context would exceed max_positions or the backend is out of memory.
  Status Reserve(int n_tok) override;
  Status Write(int layer, const float* k, const float* v, int n_tok) override;
  // The backend's plain Attention over this layer's f32 keys and values.
  Status Attend(int layer, Backend& backend, const float* q, int n_tok, int n_heads, int n_kv_heads, int head_dim,
                float scale, int64_t window, float* out) override;
  // k or v [capacity, kv_width] of `layer` in the backend's memory.
  const float* Keys(int layer) const { return keys_[static_cast<size_t>(layer)].data(); }
  const float* Values(int layer) const { return values_[static_cast<size_t>(layer)].data(); }
  void Advance(int n_tok) override { n_past_ += n_tok; }
  // Always exact: returns n.
  int Truncate(int n) override;
  uint64_t bytes() const;
  KvStats stats() const override;  // the f32 arrays count as the unquantized tier
  std::string Describe() const override;
  Result<std::unique_ptr<KvCache>> Clone() const override;  // not supported: an error

 private:
  Backend* backend_;
  int kv_width_;
  int max_positions_;
  int capacity_ = 0;
  int n_past_ = 0;
  std::vector<BackendArray<float>> keys_;    // [n_layers][capacity * kv_width]
  std::vector<BackendArray<float>> values_;  // [n_layers][capacity * kv_width]
};

}  // namespace flashstream
