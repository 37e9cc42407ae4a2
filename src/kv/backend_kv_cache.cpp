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

Status BackendKvCache::Write(int layer, const float* k, const float* v, int n_tok) {
  FS_CHECK(n_past_ + n_tok <= capacity_, "Reserve() first: {} + {} > {}", n_past_, n_tok, capacity_);
  const size_t off = static_cast<size_t>(n_past_) * static_cast<size_t>(kv_width_);
  const size_t bytes = static_cast<size_t>(n_tok) * static_cast<size_t>(kv_width_) * sizeof(float);
  backend_->Copy(keys_[static_cast<size_t>(layer)].data() + off, k, bytes);
  backend_->Copy(values_[static_cast<size_t>(layer)].data() + off, v, bytes);
  return Status::Ok();
}

Status BackendKvCache::Attend(int layer, Backend& backend, const float* q, int n_tok, int n_heads, int n_kv_heads,
                              int head_dim, float scale, int64_t window, float* out) {
  FS_CHECK(n_kv_heads * head_dim == kv_width_, "KV Attend: {} x {} for rows of {}", n_kv_heads, head_dim, kv_width_);
  backend.Attention(q, Keys(layer), Values(layer), n_tok, int64_t{n_past_} + n_tok, n_heads, n_kv_heads, head_dim,
                    scale, window, out);
  return Status::Ok();
}

int BackendKvCache::Truncate(int n) {
  FS_CHECK(n >= 0 && n <= n_past_, "truncate to {} of {}", n, n_past_);
  n_past_ = n;
  return n;
}

KvStats BackendKvCache::stats() const {
  KvStats s;
  s.hot_bytes = bytes();
  return s;
}

std::string BackendKvCache::Describe() const { return "KV cache: f32 in the backend's memory"; }

Result<std::unique_ptr<KvCache>> BackendKvCache::Clone() const {
  return Errorf("KV cache: checkpoints of a cache in device memory are not supported");
}

uint64_t BackendKvCache::bytes() const {
  return 2ull * keys_.size() * static_cast<uint64_t>(capacity_) * static_cast<uint64_t>(kv_width_) * sizeof(float);
}

}  // namespace flashstream
