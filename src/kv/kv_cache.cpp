#include "kv/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace flashstream {

KvCache::KvCache(int n_layers, int kv_width, int max_positions)
    : kv_width_(kv_width),
      max_positions_(max_positions),
      keys_(static_cast<size_t>(n_layers)),
      values_(static_cast<size_t>(n_layers)) {}

Status KvCache::Reserve(int n_tok) {
  const int need = n_past_ + n_tok;
  if (need > max_positions_) {
    return Errorf("context full: {} positions needed, the context holds {} (raise --ctx)", need,
                  max_positions_);
  }
  if (need <= capacity_) return Status::Ok();
  // Grow geometrically in steps of at least 64 positions.
  const int grown = std::min(max_positions_, std::max({need, capacity_ * 2, 64}));
  const size_t n = static_cast<size_t>(grown) * static_cast<size_t>(kv_width_);
  for (auto& k : keys_) k.resize(n);
  for (auto& v : values_) v.resize(n);
  capacity_ = grown;
  return Status::Ok();
}

void KvCache::Write(int layer, const float* k, const float* v, int n_tok) {
  FS_CHECK(n_past_ + n_tok <= capacity_, "Reserve() first: {} + {} > {}", n_past_, n_tok, capacity_);
  const size_t off = static_cast<size_t>(n_past_) * static_cast<size_t>(kv_width_);
  const size_t n = static_cast<size_t>(n_tok) * static_cast<size_t>(kv_width_);
  std::memcpy(keys_[static_cast<size_t>(layer)].data() + off, k, n * sizeof(float));
  std::memcpy(values_[static_cast<size_t>(layer)].data() + off, v, n * sizeof(float));
}

void KvCache::Truncate(int n) {
  FS_CHECK(n >= 0 && n <= n_past_, "truncate to {} of {}", n, n_past_);
  n_past_ = n;
}

uint64_t KvCache::bytes() const {
  return 2ull * keys_.size() * static_cast<uint64_t>(capacity_) * static_cast<uint64_t>(kv_width_) *
         sizeof(float);
}

}  // namespace flashstream
