// KvCache: keys and values of every layer for the positions seen so far, in f32.
// Layout per layer: k, v [capacity, n_kv_heads * head_dim]; positions 0..n_past()-1 are valid.
// A forward pass writes the new tokens' K/V at n_past().. for every layer with Write(), then
// calls Advance(n_tok) once. Owns its buffers; move-only; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kv/kv_store.h"

namespace flashstream {

class KvCache final : public KvStore {
 public:
  // max_positions: hard context limit; memory grows on demand up to it.
  KvCache(int n_layers, int kv_width, int max_positions);
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;

  int n_past() const override { return n_past_; }
  int max_positions() const override { return max_positions_; }
  int kv_width() const { return kv_width_; }
  // Makes room for n_tok more positions; fails when the context would exceed max_positions.
  Status Reserve(int n_tok) override;
  // Copies k, v [n_tok, kv_width] to positions n_past()..n_past()+n_tok-1 of `layer`.
  void Write(int layer, const float* k, const float* v, int n_tok) override;
  // k or v [capacity, kv_width] of `layer`.
  const float* Keys(int layer) const override { return keys_[static_cast<size_t>(layer)].data(); }
  const float* Values(int layer) const override { return values_[static_cast<size_t>(layer)].data(); }
  void Advance(int n_tok) override { n_past_ += n_tok; }
  // Forgets positions >= n (n <= n_past()).
  void Truncate(int n) override;
  uint64_t bytes() const override;

 private:
  int kv_width_;
  int max_positions_;
  int capacity_ = 0;
  int n_past_ = 0;
  std::vector<std::vector<float>> keys_;    // [n_layers][capacity * kv_width]
  std::vector<std::vector<float>> values_;  // [n_layers][capacity * kv_width]
};

}  // namespace flashstream
