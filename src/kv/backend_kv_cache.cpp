#include "kv/backend_kv_cache.h"

#include <algorithm>

#include "core/check.h"

namespace flashstream {

BackendKvCache::BackendKvCache(Backend& backend, int n_layers, int kv_width, int max_positions)
    : backend_(&backend),
      kv_width_(kv_width),
      max_positions_(max_positions),
      keys_(static_cast<size_t>(n_layers)),
      values_(static_cast<size_t>(n_layers)) {}

Status BackendKvCache::Reserve(int n_tok) {
  const int need = n_past_ + n_tok;
  if (need > max_positions_) {
    return Errorf("context full: {} positions needed, the context holds {} (raise --ctx)", need, max_positions_);
  }
  if (need <= capacity_) return Status::Ok();
  // Grow geometrically in steps of at least 256 positions; keep the valid positions.
  const int grown = std::min(max_positions_, std::max({need, capacity_ * 2, 256}));
  const size_t n = static_cast<size_t>(grown) * static_cast<size_t>(kv_width_);
  const size_t keep = static_cast<size_t>(n_past_) * static_cast<size_t>(kv_width_) * sizeof(float);
  for (auto* arrays : {&keys_, &values_}) {
    for (BackendArray<float>& a : *arrays) {
      BackendArray<float> bigger;
      const Status s = bigger.Reserve(*backend_, n);
      if (!s.ok()) {
        return Errorf("KV cache: cannot grow to {} positions ({:.1f} MiB per layer and tensor): {}", grown,
                      n * sizeof(float) / 1048576.0, s.message());
      }
      if (keep > 0) backend_->Copy(bigger.data(), a.data(), keep);
      a = std::move(bigger);
    }
  }
  capacity_ = grown;
  return Status::Ok();
}

void BackendKvCache::Write(int layer, const float* k, const float* v, int n_tok) {
  FS_CHECK(n_past_ + n_tok <= capacity_, "Reserve() first: {} + {} > {}", n_past_, n_tok, capacity_);
  const size_t off = static_cast<size_t>(n_past_) * static_cast<size_t>(kv_width_);
  const size_t bytes = static_cast<size_t>(n_tok) * static_cast<size_t>(kv_width_) * sizeof(float);
  backend_->Copy(keys_[static_cast<size_t>(layer)].data() + off, k, bytes);
  backend_->Copy(values_[static_cast<size_t>(layer)].data() + off, v, bytes);
}

void BackendKvCache::Truncate(int n) {
  FS_CHECK(n >= 0 && n <= n_past_, "truncate to {} of {}", n, n_past_);
  n_past_ = n;
}

uint64_t BackendKvCache::bytes() const {
  return 2ull * keys_.size() * static_cast<uint64_t>(capacity_) * static_cast<uint64_t>(kv_width_) * sizeof(float);
}

}  // namespace flashstream
