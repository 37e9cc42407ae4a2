// The non-matmul operations: RMS norm, rotary embedding, causal GQA attention
// (optionally windowed), SwiGLU, GELU-tanh gate, add, scale, soft-cap. Where the CPU's generic kernels have a fixed
// rounding sequence (RMS norm's double sum of squares, RoPE's double cos/sin, the element-wise ops) these kernels use
// the same one, with contraction into FMA disabled by the __f*_rn intrinsics, so results match to the bit or within an
// ulp. Attention is the straightforward kernel: one block per (token, head), warps over keys with an online softmax
// each, merged at the end.
#include <cuda_bf16.h>     // __float2bfloat16_rn
#include <cuda_runtime.h>  // kernel launches

#include <cmath>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"

namespace flashstream::cuda {
namespace {

constexpr int kNormThreads = 256;
constexpr int kAttnWarps = 4;
constexpr int kMaxHeadDimPerLane = 8;  // head_dim <= 256

// out[t] = x[t] * (1 / sqrt(sum(x^2) / n + eps)) * w, the sum in double; one
// block per token.
__global__ void __launch_bounds__(kNormThreads)
    RmsNormKernel(const float* x, const float* __restrict__ w, int64_t n, float eps, float w_offset, float* out) {
  const float* xt = x + blockIdx.x * n;
  float* ot = out + blockIdx.x * n;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kNormThreads) ss += static_cast<double>(xt[i]) * xt[i];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  __shared__ double partial[kNormThreads / 32];
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  double total = 0.0;
#pragma unroll
  for (int k = 0; k < kNormThreads / 32; ++k) total += partial[k];
  const float inv = static_cast<float>(1.0 / sqrt(total / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += kNormThreads) {
    ot[i] = __fmul_rn(__fmul_rn(xt[i], inv), __fadd_rn(w[i], w_offset));
  }
}

// One thread per (token, head, rotary pair).
__global__ void RopeKernel(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* __restrict__ pos,
                           const float* __restrict__ inv_freq, int half, bool interleaved) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n_tok * n_heads * half) return;
  const int i = static_cast<int>(idx % half);
  const int64_t th = idx / half;  // token * n_heads + head
  const int64_t t = th / n_heads;
  const float angle = __fmul_rn(static_cast<float>(pos[t]), inv_freq[i]);
  const float c = static_cast<float>(cos(static_cast<double>(angle)));
  const float s = static_cast<float>(sin(static_cast<double>(angle)));
  float* v = x + th * head_dim;
  const int ia = interleaved ? 2 * i : i;
  const int ib = interleaved ? 2 * i + 1 : i + half;
  const float a = v[ia], b = v[ib];
  v[ia] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  v[ib] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
}

// grid (n_heads, n_tok); kAttnWarps warps, warp w takes keys w, w + kAttnWarps,
// ...; lane l holds dims l, l + 32, ... of q and of its running output.
__global__ void __launch_bounds__(kAttnWarps * 32)
    AttentionKernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                    int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv_heads, int head_dim, float scale,
                    int64_t window, float* __restrict__ out, const int32_t* __restrict__ shift_pos, int32_t pos0) {
  if (shift_pos != nullptr) n_ctx += shift_pos[0] - pos0;
  const int h = blockIdx.x;
  const int64_t t = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = h / (n_heads / n_kv_heads);
  const int64_t n_keys = n_ctx - n_tok + t + 1;  // keys 0..p, p = the query's position
  const int64_t first_key = window > 0 && n_keys > window ? n_keys - window : 0;
  const int64_t kv_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
  const float* qv = q + (t * n_heads + h) * head_dim;

  float qr[kMaxHeadDimPerLane], acc[kMaxHeadDimPerLane];
#pragma unroll
  for (int j = 0; j < kMaxHeadDimPerLane; ++j) {
    const int d = lane + 32 * j;
    qr[j] = d < head_dim ? qv[d] : 0.f;
    acc[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t key = first_key + warp; key < n_keys; key += kAttnWarps) {
    const float* kr = k + key * kv_stride + static_cast<int64_t>(g) * head_dim;
    const float* vr = v + key * kv_stride + static_cast<int64_t>(g) * head_dim;
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < kMaxHeadDimPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < head_dim) dot = fmaf(qr[j], kr[d], dot);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float sc = dot * scale;
    const float m_new = fmaxf(m, sc);
    const float corr = expf(m - m_new);  // 0 for the first key (m = -inf)
    const float p = expf(sc - m_new);
    l = l * corr + p;
#pragma unroll
    for (int j = 0; j < kMaxHeadDimPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < head_dim) acc[j] = acc[j] * corr + p * vr[d];
    }
    m = m_new;
  }

  __shared__ float s_m[kAttnWarps], s_l[kAttnWarps];
  __shared__ float s_acc[kAttnWarps][kMaxHeadDimPerLane * 32];
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < kMaxHeadDimPerLane; ++j) s_acc[warp][lane + 32 * j] = acc[j];
  __syncthreads();
  float big = -INFINITY;
#pragma unroll
  for (int w = 0; w < kAttnWarps; ++w) big = fmaxf(big, s_m[w]);
  float f[kAttnWarps], total = 0.f;
#pragma unroll
  for (int w = 0; w < kAttnWarps; ++w) {
    f[w] = s_m[w] == -INFINITY ? 0.f : expf(s_m[w] - big);  // a warp without keys adds nothing
    total += f[w] * s_l[w];
  }
  float* o = out + (t * n_heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kAttnWarps * 32) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) sum += f[w] * s_acc[w][d];
    o[d] = sum / total;
  }
}

__global__ void SwiGluKernel(const float* gate, const float* up, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.f, expf(-g))), up[i]);
}

// gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))), as torch's approximate="tanh".
__global__ void GeluTanhGluKernel(const float* gate, const float* up, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  const float inner = 0.7978845608028654f * (g + 0.044715f * g * g * g);
  out[i] = 0.5f * g * (1.f + tanhf(inner)) * up[i];
}

__global__ void ScaleKernel(const float* x, float s, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __fmul_rn(x[i], s);
}

// One block per row of scores [heads, n_tok, n_ctx] (row r is query t = r % n_tok at position
// p = n_ctx - n_tok + t): s = scale * s over keys first..p, softmax in place, 0 elsewhere.
__global__ void __launch_bounds__(kNormThreads)
    CausalSoftmaxKernel(float* s, int64_t n_tok, int64_t n_ctx, float scale, int64_t window) {
  float* row = s + static_cast<int64_t>(blockIdx.x) * n_ctx;
  const int64_t t = static_cast<int64_t>(blockIdx.x) % n_tok;
  const int64_t last = n_ctx - n_tok + t;
  const int64_t first = window > 0 && last + 1 > window ? last + 1 - window : 0;
  __shared__ float red[kNormThreads / 32];
  auto block_reduce = [&](float v, bool is_max) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, v, o);
      v = is_max ? fmaxf(v, other) : v + other;
    }
    __syncthreads();  // red is free again
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = red[0];
#pragma unroll
    for (int k = 1; k < kNormThreads / 32; ++k) r = is_max ? fmaxf(r, red[k]) : r + red[k];
    return r;
  };
  float m = -INFINITY;
  for (int64_t j = first + threadIdx.x; j <= last; j += kNormThreads) m = fmaxf(m, row[j] * scale);
  m = block_reduce(m, true);
  float sum = 0.f;
  for (int64_t j = first + threadIdx.x; j <= last; j += kNormThreads) sum += expf(row[j] * scale - m);
  sum = block_reduce(sum, false);
  const float inv = 1.f / sum;
  for (int64_t j = threadIdx.x; j < n_ctx; j += kNormThreads) {
    row[j] = j >= first && j <= last ? expf(row[j] * scale - m) * inv : 0.f;
  }
}

__global__ void ToBF16Kernel(const float* __restrict__ x, int64_t n, __nv_bfloat16* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(x[i]);
}

__global__ void SoftCapKernel(float* x, int64_t n, float cap) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = cap * tanhf(x[i] / cap);
}

__global__ void AddKernel(const float* a, const float* b, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __fadd_rn(a[i], b[i]);
}

unsigned Blocks(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace

void LaunchRmsNorm(const float* x, const float* weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
                   float* out, cudaStream_t stream) {
  if (n_tok == 0) return;
  RmsNormKernel<<<static_cast<unsigned>(n_tok), kNormThreads, 0, stream>>>(x, weight, n, eps, weight_offset, out);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchRope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const float* inv_freq,
                int rope_dim, bool interleaved, cudaStream_t stream) {
  const int half = rope_dim / 2;
  const int64_t n = n_tok * n_heads * half;
  if (n == 0) return;
  RopeKernel<<<Blocks(n, 256), 256, 0, stream>>>(x, n_tok, n_heads, head_dim, pos, inv_freq, half, interleaved);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchAttention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                     int n_kv_heads, int head_dim, float scale, int64_t window, float* out, cudaStream_t stream,
                     const int32_t* shift_pos, int32_t pos0) {
  if (n_tok == 0 || n_heads == 0) return;
  const dim3 grid(static_cast<unsigned>(n_heads), static_cast<unsigned>(n_tok));
  AttentionKernel<<<grid, kAttnWarps * 32, 0, stream>>>(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, head_dim, scale,
                                                        window, out, shift_pos, pos0);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchSwiGlu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  SwiGluKernel<<<Blocks(n, 256), 256, 0, stream>>>(gate, up, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchAdd(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  AddKernel<<<Blocks(n, 256), 256, 0, stream>>>(a, b, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchGeluTanhGlu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  GeluTanhGluKernel<<<Blocks(n, 256), 256, 0, stream>>>(gate, up, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchScale(const float* x, float s, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  ScaleKernel<<<Blocks(n, 256), 256, 0, stream>>>(x, s, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchCausalSoftmax(float* s, int64_t rows, int64_t n_tok, int64_t n_ctx, float scale, int64_t window,
                         cudaStream_t stream) {
  if (rows == 0) return;
  CausalSoftmaxKernel<<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(s, n_tok, n_ctx, scale, window);
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchToBF16(const float* x, int64_t n, void* out, cudaStream_t stream) {
  if (n == 0) return;
  ToBF16Kernel<<<Blocks(n, 256), 256, 0, stream>>>(x, n, static_cast<__nv_bfloat16*>(out));
  FS_CUDA_CHECK_LAUNCH();
}

void LaunchSoftCap(float* x, int64_t n, float cap, cudaStream_t stream) {
  if (n == 0) return;
  SoftCapKernel<<<Blocks(n, 256), 256, 0, stream>>>(x, n, cap);
  FS_CUDA_CHECK_LAUNCH();
}

}  // namespace flashstream::cuda
