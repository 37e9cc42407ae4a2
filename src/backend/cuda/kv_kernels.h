// Launchers of the KV cache kernels (kv_kernels.cu): the quantizer of core/kv_quant.h on the
// device, and attention over the two tiers of a KV cache whose blocks are in device memory
// (Backend::TieredAttention). Plain structs, no fmt: this header is compiled by nvcc. Every
// pointer is device memory; every launcher enqueues on `stream` and checks the launch.
#pragma once

#include <cuda_runtime_api.h>  // cudaStream_t

#include <cstddef>
#include <cstdint>

namespace flashstream::cuda {

// A KvBlockLayout (core/kv_quant.h) as the kernels read it.
struct KvLayout {
  int format = 0;       // KvFormat
  int per_channel = 0;  // KvGrouping::kPerChannel
  int width = 0;
  int group = 0;
  int rows = 0;
  int64_t row_code_bytes = 0;
  int64_t code_bytes = 0;  // where the f16 (scale, min) pairs start
};

// rows row0..row0+n-1 of `block` (layout `to`) = x[n, width] quantized (or converted) exactly as
// QuantizeKvRows does: same codes, same f16 scales and mins.
void LaunchQuantizeKv(const KvLayout& to, const float* x, int row0, int n, std::byte* block, cudaStream_t stream);
// The same from rows row0..row0+n-1 of `src` (layout `from`), decoded as DequantizeKvRows does.
void LaunchRequantizeKv(const KvLayout& from, const std::byte* src, const KvLayout& to, int row0, int n, std::byte* dst,
                        cudaStream_t stream);

// One tier of a KV cache: consecutive blocks of k.rows positions, block i at positions
// (first_block + i) * k.rows.., its keys at k_blocks[i] and values at v_blocks[i].
struct KvTier {
  KvLayout k, v;
  int64_t first_block = 0;
  int64_t n_blocks = 0;
  const std::byte* const* k_blocks = nullptr;  // [n_blocks] (device memory)
  const std::byte* const* v_blocks = nullptr;
};

// TieredAttentionArgs (backend.h) with the tiers' block tables and `split` in device memory.
struct TieredAttention {
  const float* q = nullptr;  // [n_tok, n_heads, head_dim]
  int64_t n_tok = 0, pos0 = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.f;
  int64_t window = 0;
  KvTier cold, hot;
  const int64_t* split = nullptr;  // [n_tok]
  float* out = nullptr;            // [n_tok, n_heads, head_dim]
};

// Floats of partial results LaunchTieredAttention needs for `a` (its scratch).
size_t TieredAttentionScratchFloats(const TieredAttention& a);
// out = attention of a.q over the tiers: each query's keys cut into chunks attended by separate
// blocks (online softmax in f32), then combined in order. Precondition: head_dim <= 256.
void LaunchTieredAttention(const TieredAttention& a, float* scratch, cudaStream_t stream);

}  // namespace flashstream::cuda
