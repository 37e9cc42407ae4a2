// The KV cache kernels of kv_kernels.h. Quantization follows core/kv_quant.cpp step by step (the
// same f32 operations in the same order, f16 conversions rounded to nearest even, rintf for
// nearbyint), so its codes and scales are bitwise those of QuantizeKvRows. Attention: one block
// of kWarps warps per (query token, head, chunk of keys); each warp takes every kWarps-th key of
// the chunk, decodes the key and value rows of its tier on the fly (fma(code, scale, min), as
// DequantizeKvRows), and keeps an online softmax; the warps' states are merged in shared memory
// and the chunks' by a second kernel. No tier is ever materialised in f32 or f16.
#include <cuda_fp16.h>     // __half
#include <cuda_runtime.h>  // kernel launch

#include <cmath>

#include "backend/cuda/kv_kernels.h"
#include "backend/cuda/launch_check.h"
#include "core/kv_quant.h"  // KvFormat

namespace flashstream::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int64_t kMinChunk = 256;       // keys per block at least
constexpr int64_t kTargetBlocks = 2048;  // enough blocks to fill the device

__device__ float HalfToFloat(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ uint16_t FloatToHalf(float x) { return __half_as_ushort(__float2half_rn(x)); }

// As core/kv_quant.cpp: the largest f16 not above x, the smallest not below x (x >= 0).
__device__ uint16_t HalfDown(float x) {
  uint16_t h = FloatToHalf(x);
  if (HalfToFloat(h) > x) h = (h & 0x8000u) ? static_cast<uint16_t>(h + 1u) : static_cast<uint16_t>(h - 1u);
  return h;
}
__device__ uint16_t HalfUp(float x) {
  uint16_t h = FloatToHalf(x);
  if (HalfToFloat(h) < x) ++h;
  return h;
}

// Value (r, c) of a block (r counted from the block's row 0).
__device__ __forceinline__ float KvValue(const KvLayout& l, const std::byte* block, int64_t r, int c) {
  const auto* b = reinterpret_cast<const uint8_t*>(block);
  if (l.format == static_cast<int>(KvFormat::kF16)) {
    return HalfToFloat(reinterpret_cast<const uint16_t*>(b)[r * l.width + c]);
  }
  if (l.format == static_cast<int>(KvFormat::kF32)) return reinterpret_cast<const float*>(b)[r * l.width + c];
  int code;
  if (l.format == static_cast<int>(KvFormat::kQ8)) {
    code = b[r * l.row_code_bytes + c];
  } else {
    const uint8_t byte = b[r * l.row_code_bytes + c / 2];
    code = (c & 1) ? (byte >> 4) : (byte & 0x0F);
  }
  const auto* p = reinterpret_cast<const uint16_t*>(b + l.code_bytes) +
                  2 * (l.per_channel ? int64_t{c} : r * (l.width / l.group) + c / l.group);
  return __fmaf_rn(static_cast<float>(code), HalfToFloat(p[0]), HalfToFloat(p[1]));
}

// Rows of f32 values x[r, width] (r from 0).
struct F32Rows {
  const float* x;
  int width;
  __device__ float operator()(int r, int c) const { return x[int64_t{r} * width + c]; }
};
// Rows row0.. of a block, decoded.
struct BlockRows {
  KvLayout l;
  const std::byte* block;
  int row0;
  __device__ float operator()(int r, int c) const { return KvValue(l, block, row0 + r, c); }
};

__device__ void PutCode(const KvLayout& l, uint8_t* row, int c, int code) {
  if (l.format == static_cast<int>(KvFormat::kQ8)) {
    row[c] = static_cast<uint8_t>(code);
    return;
  }
  uint8_t& b = row[c / 2];
  b = (c % 2 == 0) ? static_cast<uint8_t>((b & 0xF0u) | code) : static_cast<uint8_t>((b & 0x0Fu) | (code << 4));
}

// QuantizeGroup of core/kv_quant.cpp over the n values val(i); put(i, code) stores them.
template <typename Val, typename Put>
__device__ void QuantizeGroup(const Val& val, int n, int levels, uint16_t* params, const Put& put) {
  float lo = val(0), hi = val(0);
  for (int i = 1; i < n; ++i) {
    const float v = val(i);
    lo = v < lo ? v : lo;  // std::min / std::max: the first operand unless the second is smaller / larger
    hi = hi < v ? v : hi;
  }
  const uint16_t min_h = HalfDown(lo);
  const float min_f = HalfToFloat(min_h);
  const uint16_t scale_h = HalfUp(__fdiv_rn(__fsub_rn(hi, min_f), static_cast<float>(levels)));
  const float scale = HalfToFloat(scale_h);
  params[0] = scale_h;
  params[1] = min_h;
  for (int i = 0; i < n; ++i) {
    int code = 0;
    if (scale > 0.f) code = static_cast<int>(rintf(__fdiv_rn(__fsub_rn(val(i), min_f), scale)));
    put(i, code < 0 ? 0 : code > levels ? levels : code);
  }
}

// Thread `i` of a launch over the work of rows row0..row0+n-1: f32/f16 one value each;
// per-token groups one (row, group) each; per-channel blocks one channel (two for 4-bit, which
// share bytes) each.
template <typename Src>
__global__ void QuantizeKernel(KvLayout l, Src src, int row0, int n, std::byte* block, int64_t items) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= items) return;
  auto* b = reinterpret_cast<uint8_t*>(block);
  if (l.format == static_cast<int>(KvFormat::kF32) || l.format == static_cast<int>(KvFormat::kF16)) {
    const int r = static_cast<int>(i / l.width), c = static_cast<int>(i % l.width);
    const float v = src(r, c);
    if (l.format == static_cast<int>(KvFormat::kF32)) {
      reinterpret_cast<float*>(b)[int64_t{row0 + r} * l.width + c] = v;
    } else {
      reinterpret_cast<uint16_t*>(b)[int64_t{row0 + r} * l.width + c] = FloatToHalf(v);
    }
    return;
  }
  const int levels = l.format == static_cast<int>(KvFormat::kQ8) ? 255 : 15;
  auto* params = reinterpret_cast<uint16_t*>(b + l.code_bytes);
  if (l.per_channel) {
    const int per = l.format == static_cast<int>(KvFormat::kQ4) ? 2 : 1;
    for (int c = static_cast<int>(i) * per; c < (static_cast<int>(i) + 1) * per; ++c) {
      QuantizeGroup([&](int r) { return src(r, c); }, n, levels, params + 2 * c,
                    [&](int r, int code) { PutCode(l, b + int64_t{r} * l.row_code_bytes, c, code); });
    }
    return;
  }
  const int groups = l.width / l.group;
  const int r = static_cast<int>(i / groups), g = static_cast<int>(i % groups);
  uint8_t* row = b + int64_t{row0 + r} * l.row_code_bytes;
  QuantizeGroup([&](int k) { return src(r, g * l.group + k); }, l.group, levels,
                params + (int64_t{row0 + r} * groups + g) * 2,
                [&](int k, int code) { PutCode(l, row, g * l.group + k, code); });
}

template <typename Src>
void LaunchQuantize(const KvLayout& l, const Src& src, int row0, int n, std::byte* block, cudaStream_t stream) {
  if (n <= 0) return;
  int64_t items;
  if (l.format == static_cast<int>(KvFormat::kF32) || l.format == static_cast<int>(KvFormat::kF16)) {
    items = int64_t{n} * l.width;
  } else if (l.per_channel) {
    items = l.format == static_cast<int>(KvFormat::kQ4) ? l.width / 2 : l.width;
  } else {
    items = int64_t{n} * (l.width / l.group);
  }
  const int threads = 128;
  QuantizeKernel<<<static_cast<unsigned>((items + threads - 1) / threads), threads, 0, stream>>>(l, src, row0, n, block,
                                                                                                 items);
  FS_CUDA_CHECK_LAUNCH();
}

// Keys per chunk (a multiple of 64): enough chunks for kTargetBlocks blocks, none under kMinChunk.
int64_t ChunkKeys(const TieredAttention& a) {
  const int64_t n_ctx = a.pos0 + a.n_tok;
  const int64_t blocks = a.n_tok * a.n_heads;
  int64_t splits = (kTargetBlocks + blocks - 1) / blocks;
  const int64_t max_splits = (n_ctx + kMinChunk - 1) / kMinChunk;
  splits = splits < 1 ? 1 : splits > max_splits ? max_splits : splits;
  const int64_t chunk = (n_ctx + splits - 1) / splits;
  return (chunk + 63) / 64 * 64;
}

int64_t Chunks(const TieredAttention& a, int64_t chunk) { return (a.pos0 + a.n_tok + chunk - 1) / chunk; }

// grid (n_tok, n_heads, chunks), kWarps * 32 threads. part[(t, h, chunk)] = (max, sum, acc[head_dim]).
template <int D>
__global__ void __launch_bounds__(kWarps * 32) TieredAttentionKernel(TieredAttention a, int64_t chunk, float* part) {
  const int64_t t = blockIdx.x;
  const int h = blockIdx.y;
  const int64_t s = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int hd = a.head_dim;
  const int64_t p = a.pos0 + t;
  const int64_t lo = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
  const int64_t j0 = lo > s * chunk ? lo : s * chunk;
  const int64_t j1 = p + 1 < (s + 1) * chunk ? p + 1 : (s + 1) * chunk;
  const int kv_col = (h / (a.n_heads / a.n_kv_heads)) * hd;
  const int64_t split = a.split[t];
  __shared__ KvTier tiers[2];  // cold, hot: indexed per key without copying the parameters
  if (threadIdx.x == 0) {
    tiers[0] = a.cold;
    tiers[1] = a.hot;
  }
  __syncthreads();

  float qv[D], acc[D];
  const float* qrow = a.q + (t * a.n_heads + h) * hd;
#pragma unroll
  for (int i = 0; i < D; ++i) {
    const int d = lane + 32 * i;
    qv[i] = d < hd ? qrow[d] : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t j = j0 + warp; j < j1; j += kWarps) {
    const KvTier& tier = tiers[j < split ? 0 : 1];
    const int64_t blk = j / tier.k.rows;
    const int64_t r = j - blk * tier.k.rows;
    const std::byte* kb = tier.k_blocks[blk - tier.first_block];
    const std::byte* vb = tier.v_blocks[blk - tier.first_block];
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < D; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) dot = fmaf(qv[i], KvValue(tier.k, kb, r, kv_col + d), dot);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float sc = dot * a.scale;
    const float m_new = fmaxf(m, sc);
    const float corr = expf(m - m_new);
    const float e = expf(sc - m_new);
    l = l * corr + e;
#pragma unroll
    for (int i = 0; i < D; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) acc[i] = fmaf(e, KvValue(tier.v, vb, r, kv_col + d), acc[i] * corr);
    }
    m = m_new;
  }

  __shared__ float sm[kWarps], sl[kWarps], sacc[kWarps][D * 32];
  if (lane == 0) {
    sm[warp] = m;
    sl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < D; ++i) sacc[warp][lane + 32 * i] = acc[i];
  __syncthreads();
  float mx = -INFINITY;
  for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm[w]);
  float* dst = part + ((t * a.n_heads + h) * gridDim.z + s) * (hd + 2);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float sum = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      if (sm[w] != -INFINITY) sum += expf(sm[w] - mx) * sacc[w][d];
    }
    dst[2 + d] = sum;
  }
  if (threadIdx.x == 0) {
    float sum = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      if (sm[w] != -INFINITY) sum += expf(sm[w] - mx) * sl[w];
    }
    dst[0] = mx;
    dst[1] = sum;
  }
}

// grid (n_tok * n_heads), 64 threads: out = the chunks' partial softmaxes combined in order.
__global__ void CombineKernel(const float* part, int64_t chunks, int hd, float* out) {
  const int64_t th = blockIdx.x;
  const float* p = part + th * chunks * (hd + 2);
  float mx = -INFINITY;
  for (int64_t s = 0; s < chunks; ++s) mx = fmaxf(mx, p[s * (hd + 2)]);
  float total = 0.f;
  for (int64_t s = 0; s < chunks; ++s) {
    const float ms = p[s * (hd + 2)];
    if (ms != -INFINITY) total += expf(ms - mx) * p[s * (hd + 2) + 1];
  }
  const float inv = 1.f / total;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.f;
    for (int64_t s = 0; s < chunks; ++s) {
      const float ms = p[s * (hd + 2)];
      if (ms != -INFINITY) o += expf(ms - mx) * p[s * (hd + 2) + 2 + d];
    }
    out[th * hd + d] = o * inv;
  }
}

}  // namespace

void LaunchQuantizeKv(const KvLayout& to, const float* x, int row0, int n, std::byte* block, cudaStream_t stream) {
  LaunchQuantize(to, F32Rows{x, to.width}, row0, n, block, stream);
}

void LaunchRequantizeKv(const KvLayout& from, const std::byte* src, const KvLayout& to, int row0, int n, std::byte* dst,
                        cudaStream_t stream) {
  LaunchQuantize(to, BlockRows{from, src, row0}, row0, n, dst, stream);
}

size_t TieredAttentionScratchFloats(const TieredAttention& a) {
  return static_cast<size_t>(a.n_tok * a.n_heads * Chunks(a, ChunkKeys(a)) * (a.head_dim + 2));
}

void LaunchTieredAttention(const TieredAttention& a, float* scratch, cudaStream_t stream) {
  if (a.n_tok == 0 || a.n_heads == 0) return;
  const int64_t chunk = ChunkKeys(a);
  const int64_t chunks = Chunks(a, chunk);
  const dim3 grid(static_cast<unsigned>(a.n_tok), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(chunks));
  if (a.head_dim <= 64) {
    TieredAttentionKernel<2><<<grid, kWarps * 32, 0, stream>>>(a, chunk, scratch);
  } else if (a.head_dim <= 128) {
    TieredAttentionKernel<4><<<grid, kWarps * 32, 0, stream>>>(a, chunk, scratch);
  } else {
    TieredAttentionKernel<8><<<grid, kWarps * 32, 0, stream>>>(a, chunk, scratch);
  }
  FS_CUDA_CHECK_LAUNCH();
  CombineKernel<<<static_cast<unsigned>(a.n_tok * a.n_heads), 64, 0, stream>>>(scratch, chunks, a.head_dim, a.out);
  FS_CUDA_CHECK_LAUNCH();
}

}  // namespace flashstream::cuda
