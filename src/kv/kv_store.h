// KvStore: what a forward pass needs from a KV cache: the positions seen so far and each
// layer's keys and values as f32 arrays the backend's Attention can read. KvCache keeps them in
// host memory; BackendKvCache in a backend's memory (the GPU's). Call order per forward pass:
// Reserve(n), Write(l, ...) for every layer, Advance(n). Not thread-safe.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace flashstream {

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual int n_past() const = 0;
  virtual int max_positions() const = 0;
  // Makes room for n_tok more positions; fails when the context would exceed max_positions.
  virtual Status Reserve(int n_tok) = 0;
  // Copies k, v [n_tok, kv_width] (the memory the backend computes in) to positions
  // n_past()..n_past()+n_tok-1 of `layer`.
  virtual void Write(int layer, const float* k, const float* v, int n_tok) = 0;
  // k or v [capacity, kv_width] of `layer`; positions 0..n_past()-1 are valid.
  virtual const float* Keys(int layer) const = 0;
  virtual const float* Values(int layer) const = 0;
  virtual void Advance(int n_tok) = 0;
  // Forgets positions >= n (n <= n_past()).
  virtual void Truncate(int n) = 0;
  virtual uint64_t bytes() const = 0;
};

}  // namespace flashstream
