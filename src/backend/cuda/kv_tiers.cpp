#include "backend/cuda/kv_tiers.h"

#include <cstring>
#include <span>

#include "backend/cuda/cuda_check.h"
#include "core/check.h"

namespace flashstream::cuda {
namespace {

// Appends the tier's block pointers (k then v) to `host`; fills `tier` but its table pointers,
// which are offsets into `host` until the upload.
void PackTier(std::span<const KvBlockView> views, const char* name, KvTier& tier, std::vector<std::byte>& host,
              size_t& k_off, size_t& v_off) {
  tier = KvTier{};
  k_off = v_off = 0;
  if (views.empty()) return;
  const KvBlockView& v0 = views[0];
  const int rows = v0.k_layout.rows;
  FS_CHECK(rows > 0 && v0.first % rows == 0, "CUDA TieredAttention: {} tier starts at {}, not a block edge of {}", name,
           v0.first, rows);
  tier.k = ToDevice(v0.k_layout);
  tier.v = ToDevice(v0.v_layout);
  tier.first_block = v0.first / rows;
  tier.n_blocks = static_cast<int64_t>(views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    const KvBlockView& b = views[i];
    FS_CHECK(b.first == v0.first + static_cast<int64_t>(i) * rows && b.k_layout.rows == rows &&
                 b.k_layout.format == v0.k_layout.format && b.v_layout.format == v0.v_layout.format &&
                 b.k_layout.grouping == v0.k_layout.grouping,
             "CUDA TieredAttention: {} tier block {} at {}: expected consecutive blocks of one layout", name, i,
             b.first);
  }
  const size_t bytes = views.size() * sizeof(const std::byte*);
  k_off = host.size();
  host.resize(host.size() + 2 * bytes);
  v_off = k_off + bytes;
  for (size_t i = 0; i < views.size(); ++i) {
    std::memcpy(host.data() + k_off + i * sizeof(const std::byte*), &views[i].k, sizeof(const std::byte*));
    std::memcpy(host.data() + v_off + i * sizeof(const std::byte*), &views[i].v, sizeof(const std::byte*));
  }
}

}  // namespace

KvLayout ToDevice(const KvBlockLayout& l) {
  KvLayout d;
  d.format = static_cast<int>(l.format);
  d.per_channel = l.grouping == KvGrouping::kPerChannel ? 1 : 0;
  d.width = l.width;
  d.group = l.group;
  d.rows = l.rows;
  d.row_code_bytes = static_cast<int64_t>(l.row_code_bytes());
  d.code_bytes = static_cast<int64_t>(l.code_bytes());
  return d;
}

void TieredAttentionRunner::Run(const TieredAttentionArgs& a, cudaStream_t stream) {
  FS_CHECK(a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads == 0, "Attention: {} heads over {} kv heads", a.n_heads,
           a.n_kv_heads);
  FS_CHECK(a.head_dim > 0 && a.head_dim <= 256, "Attention: head_dim {} outside (0, 256]", a.head_dim);
  FS_CHECK(a.n_tok > 0 && a.n_tok <= 65535 && a.pos0 >= 0 && a.window >= 0, "Attention: {} queries at {}, window {}",
           a.n_tok, a.pos0, a.window);
  host_.resize(static_cast<size_t>(a.n_tok) * sizeof(int64_t));
  std::memcpy(host_.data(), a.split, host_.size());
  TieredAttention d;
  size_t cold_k = 0, cold_v = 0, hot_k = 0, hot_v = 0;
  PackTier(a.cold, "cold", d.cold, host_, cold_k, cold_v);
  PackTier(a.hot, "hot", d.hot, host_, hot_k, hot_v);
  auto* dev = static_cast<std::byte*>(table_.Reserve(host_.size()));
  FS_CUDA_CHECK(cudaMemcpyAsync(dev, host_.data(), host_.size(), cudaMemcpyHostToDevice, stream));
  d.split = reinterpret_cast<const int64_t*>(dev);
  if (!a.cold.empty()) {
    d.cold.k_blocks = reinterpret_cast<const std::byte* const*>(dev + cold_k);
    d.cold.v_blocks = reinterpret_cast<const std::byte* const*>(dev + cold_v);
  }
  if (!a.hot.empty()) {
    d.hot.k_blocks = reinterpret_cast<const std::byte* const*>(dev + hot_k);
    d.hot.v_blocks = reinterpret_cast<const std::byte* const*>(dev + hot_v);
  }
  d.q = a.q;
  d.n_tok = a.n_tok;
  d.pos0 = a.pos0;
  d.n_heads = a.n_heads;
  d.n_kv_heads = a.n_kv_heads;
  d.head_dim = a.head_dim;
  d.scale = a.scale;
  d.window = a.window;
  d.out = a.out;
  auto* part = static_cast<float*>(part_.Reserve(TieredAttentionScratchFloats(d) * sizeof(float)));
  LaunchTieredAttention(d, part, stream);
}

}  // namespace flashstream::cuda
