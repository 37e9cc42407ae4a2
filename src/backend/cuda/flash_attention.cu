// LaunchFlashAttentionBF16 (kernels.h): prompt attention in one kernel, FlashAttention-style, on the
// bf16 tensor cores (WMMA 16x16x16, f32 accumulation). A block takes 64 queries of one head (4 warps of
// 16 rows) and walks the keys they see in tiles of 64: each warp forms its scores S = q k^T, updates
// its rows' running max and sum (online softmax, f32), rounds the probabilities to bf16 and adds P v
// into f32 output fragments held in registers (rescaled per row: which row each fragment element
// holds is read off a fragment loaded from a matrix of row numbers, so no layout is assumed). q, k
// and v are read as f32 and rounded to bf16 in shared memory; nothing of size n_tok x n_ctx
// reaches device memory.
#include <cuda_bf16.h>     // __nv_bfloat16
#include <cuda_runtime.h>  // kernel launch
#include <mma.h>           // nvcuda::wmma

#include <cmath>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"

namespace flashstream::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kRows = 64;  // queries per block
constexpr int kKeys = 64;  // keys per tile
constexpr int kWarps = 4;  // 16 query rows each
constexpr int kPadH = 8;   // bf16 row padding (keeps rows 16-byte aligned, spreads banks)
constexpr int kPadF = 4;   // f32 row padding

template <int HD>
struct Smem {
  static constexpr int ldh = HD + kPadH;     // q, k, v tiles (bf16)
  static constexpr int lds = kKeys + kPadF;  // scores (f32)
  static constexpr int ldp = kKeys + kPadH;  // probabilities (bf16)
  static constexpr int ldo = HD + kPadF;     // output (f32)
  static constexpr size_t q = 0;
  static constexpr size_t k = q + sizeof(__nv_bfloat16) * kRows * ldh;
  static constexpr size_t v = k + sizeof(__nv_bfloat16) * kKeys * ldh;
  static constexpr size_t s = v + sizeof(__nv_bfloat16) * kKeys * ldh;
  static constexpr size_t p = s + sizeof(float) * kRows * lds;
  static constexpr size_t corr = p + sizeof(__nv_bfloat16) * kRows * ldp;
  static constexpr size_t bytes = corr + sizeof(float) * kRows;
  static constexpr size_t o = k;  // the output tile, at the end, over the k and v tiles
  static_assert(sizeof(float) * kRows * ldo <= s - k, "output tile fits over k and v");
};

// rows [n, HD] of f32 at src (row stride ld; rows >= valid are zero) -> bf16 tile dst [n, ldh].
template <int HD>
__device__ void LoadTile(__nv_bfloat16* dst, const float* src, int64_t ld, int n, int valid) {
  constexpr int per_row = HD / 4;
  for (int i = threadIdx.x; i < n * per_row; i += kWarps * 32) {
    const int r = i / per_row, c = (i % per_row) * 4;
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r < valid) x = *reinterpret_cast<const float4*>(src + r * ld + c);
    __nv_bfloat162* d = reinterpret_cast<__nv_bfloat162*>(dst + r * Smem<HD>::ldh + c);
    d[0] = __floats2bfloat162_rn(x.x, x.y);
    d[1] = __floats2bfloat162_rn(x.z, x.w);
  }
}

// grid (ceil(n_tok / 64), n_heads), kWarps * 32 threads, Smem<HD>::bytes of dynamic shared memory.
template <int HD>
__global__ void __launch_bounds__(kWarps * 32)
    FlashAttentionKernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                         int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv_heads, float scale, int64_t window,
                         float* __restrict__ out) {
  using S = Smem<HD>;
  extern __shared__ __align__(128) unsigned char smem[];
  auto* sq = reinterpret_cast<__nv_bfloat16*>(smem + S::q);
  auto* sk = reinterpret_cast<__nv_bfloat16*>(smem + S::k);
  auto* sv = reinterpret_cast<__nv_bfloat16*>(smem + S::v);
  auto* ss = reinterpret_cast<float*>(smem + S::s);
  auto* sp = reinterpret_cast<__nv_bfloat16*>(smem + S::p);
  auto* so = reinterpret_cast<float*>(smem + S::o);
  auto* scorr = reinterpret_cast<float*>(smem + S::corr);

  const int h = blockIdx.y;
  const int g = h / (n_heads / n_kv_heads);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int64_t qw = static_cast<int64_t>(n_heads) * HD, kvw = static_cast<int64_t>(n_kv_heads) * HD;
  const int64_t past = n_ctx - n_tok;
  const int q_valid = static_cast<int>(n_tok - q0 < kRows ? n_tok - q0 : kRows);
  const int64_t last_key = past + q0 + q_valid - 1;  // the block's last query's position
  int64_t first_key = 0;
  if (window > 0) first_key = past + q0 - window + 1 > 0 ? past + q0 - window + 1 : 0;

  LoadTile<HD>(sq, q + q0 * qw + static_cast<int64_t>(h) * HD, qw, kRows, q_valid);

  // frag_row[i]: the row (0..15) of element i of an accumulator fragment, from a matrix of row numbers.
  using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  int frag_row[Acc::num_elements];
  {
    float* rows = ss + warp * 16 * S::lds;
    for (int i = lane; i < 16 * 16; i += 32) rows[(i / 16) * S::lds + i % 16] = static_cast<float>(i / 16);
    __syncwarp();
    Acc f;
    wmma::load_matrix_sync(f, rows, S::lds, wmma::mem_row_major);
#pragma unroll
    for (int i = 0; i < Acc::num_elements; ++i) frag_row[i] = static_cast<int>(f.x[i]);
    __syncwarp();
  }
  Acc o_acc[HD / 16];
#pragma unroll
  for (int nt = 0; nt < HD / 16; ++nt) wmma::fill_fragment(o_acc[nt], 0.f);

  // This lane's row of the warp's 16 and half of the tile's columns.
  const int r = lane >> 1, half = lane & 1;
  const int row = warp * 16 + r;
  const int64_t pos = past + q0 + row;  // the query's position
  const bool row_valid = row < q_valid;
  float m = -INFINITY, l = 0.f;

  for (int64_t k0 = first_key / kKeys * kKeys; k0 <= last_key; k0 += kKeys) {
    const int k_valid = static_cast<int>(n_ctx - k0 < kKeys ? n_ctx - k0 : kKeys);
    __syncthreads();  // the previous tile is consumed (and, first time, q and o are written)
    LoadTile<HD>(sk, k + k0 * kvw + static_cast<int64_t>(g) * HD, kvw, kKeys, k_valid);
    LoadTile<HD>(sv, v + k0 * kvw + static_cast<int64_t>(g) * HD, kvw, kKeys, k_valid);
    __syncthreads();

    float* sw = ss + warp * 16 * S::lds;
#pragma unroll
    for (int nt = 0; nt < kKeys / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
        wmma::load_matrix_sync(a, sq + warp * 16 * S::ldh + kk * 16, S::ldh);
        wmma::load_matrix_sync(b, sk + nt * 16 * S::ldh + kk * 16, S::ldh);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(sw + nt * 16, acc, S::lds, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over this lane's 32 columns, combined with the partner lane's.
    const float* srow = sw + r * S::lds + half * 32;
    float sc[32];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int64_t key = k0 + half * 32 + j;
      const bool ok = row_valid && key <= pos && key < n_ctx && (window <= 0 || key > pos - window);
      sc[j] = ok ? srow[j] * scale : -INFINITY;
      mx = fmaxf(mx, sc[j]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m, mx);
    const float m_use = m_new == -INFINITY ? 0.f : m_new;
    const float corr = expf(m - m_use);  // 0 while the row had no key (m = -inf)
    float sum = 0.f;
    __nv_bfloat16* prow = sp + row * S::ldp + half * 32;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const float e = expf(sc[j] - m_use);  // 0 for masked keys
      const __nv_bfloat16 eb = __float2bfloat16_rn(e);
      sum += __bfloat162float(eb);  // the weights P v uses
      prow[j] = eb;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * corr + sum;
    m = m_new;
    if (half == 0) scorr[row] = corr;
    __syncwarp();

    // o = o * corr + P v for the warp's 16 rows.
    float c_row[Acc::num_elements];
#pragma unroll
    for (int i = 0; i < Acc::num_elements; ++i) c_row[i] = scorr[warp * 16 + frag_row[i]];
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
      wmma::load_matrix_sync(a, sp + warp * 16 * S::ldp + kk * 16, S::ldp);
#pragma unroll
      for (int nt = 0; nt < HD / 16; ++nt) {
        if (kk == 0) {
#pragma unroll
          for (int i = 0; i < Acc::num_elements; ++i) o_acc[nt].x[i] *= c_row[i];
        }
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
        wmma::load_matrix_sync(b, sv + kk * 16 * S::ldh + nt * 16, S::ldh);
        wmma::mma_sync(o_acc[nt], a, b, o_acc[nt]);
      }
    }
    __syncwarp();
  }

  __syncthreads();  // every warp is done with the k and v tiles, which the output tile reuses
  float* ow = so + warp * 16 * S::ldo;
#pragma unroll
  for (int nt = 0; nt < HD / 16; ++nt) wmma::store_matrix_sync(ow + nt * 16, o_acc[nt], S::ldo, wmma::mem_row_major);
  __syncwarp();
  if (!row_valid) return;
  const float inv = 1.f / l;
  float* orow = out + (q0 + row) * qw + static_cast<int64_t>(h) * HD;
  const float* srow = so + row * S::ldo;
  for (int d = half; d < HD; d += 2) orow[d] = srow[d] * inv;
}

template <int HD>
void Launch(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv_heads,
            float scale, int64_t window, float* out, cudaStream_t stream) {
  static bool configured = false;
  if (!configured) {
    CheckLaunchResult(cudaFuncSetAttribute(FlashAttentionKernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(Smem<HD>::bytes)),
                      __FILE__, __LINE__);
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>((n_tok + kRows - 1) / kRows), static_cast<unsigned>(n_heads));
  FlashAttentionKernel<HD>
      <<<grid, kWarps * 32, Smem<HD>::bytes, stream>>>(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, scale, window, out);
  FS_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool LaunchFlashAttentionBF16(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                              int n_kv_heads, int head_dim, float scale, int64_t window, float* out,
                              cudaStream_t stream) {
  const uintptr_t addr =
      reinterpret_cast<uintptr_t>(q) | reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v);
  if (addr % 16 != 0 || n_tok <= 0) return false;
  switch (head_dim) {
    case 64:
      Launch<64>(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, scale, window, out, stream);
      return true;
    case 128:
      Launch<128>(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, scale, window, out, stream);
      return true;
    default:
      return false;
  }
}

}  // namespace flashstream::cuda
