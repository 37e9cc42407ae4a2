// Exact quantized matmul: y[n_tok, n_out] = x[n_tok, n_in] · dequantize(w)[n_out, n_in]^T
// with f32 activations (no int8 rounding of x) for Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, Q5_0.
//
// Operation order. Every kernel (generic or AVX-512, decode or batched, any tile, thread split
// or weight address) computes each y[t, r] with exactly these f32 operations, so results are
// bitwise equal across all of them. "lane[l] = fma(a, b, lane[l])" is one rounding;
// ReduceLanes(v) = (s4[0] + s4[2]) + (s4[1] + s4[3]) with s4[i] = s8[i] + s8[i+4] and
// s8[i] = v[i] + v[i+8].
//  Dequantizing formats (Q8_0, Q4_K, Q5_K, Q6_K, Q5_0): w = DequantizeRow's value (every product
//    in it is exact in f32, so the kernels form it exactly or with DequantizeRow's single
//    rounding); 16 lanes from zero, for k = 0 .. n_in/16 - 1:
//    lane[l] = fma(w[16k + l], x[16k + l], lane[l]); y = ReduceLanes(lane).
//  Block-scaled formats (Q4_0, Q4_1; block b = values 32b .. 32b+31 with scale d, min m,
//    m = -8d for Q4_0, nibbles q; w = d q + m): S[b] = ReduceLanes(x[32b + l] + x[32b+16+l]).
//    16 lanes from zero; for each group of 16 blocks g = 0, 1, ...: first
//    lane[l] = fma(m[16g + l], S[16g + l], lane[l]) (0 past the last block), then for each
//    block b of the group: p[l] = (16 q[32b+l]) * x[32b+l];
//    p[l] = fma(16 q[32b+16+l], x[32b+16+l], p[l]); lane[l] = fma(p[l], d / 16, lane[l]).
//    y = ReduceLanes(lane). (16 q and d / 16 are exact; they let the kernel skip a shift.)
// Error: within (n_in/16 + 8) * 2^-24 * sum_i (|w_i| + 2 |m_b(i)|) |x_i| of the exact product.
#pragma once

#include <cstdint>

#include "backend/cpu/kernels.h"

namespace flashstream::cpu {

// Rows per dequantized panel of the batched kernels (a multiple of 4, at least 4).
int64_t ExactPanelRows(int64_t n_in);

// Padded count of the per-token block sums S: n_in / 32 rounded up to a multiple of 16.
int64_t ExactBlockSumStride(int64_t n_in);

// Floats of per-thread scratch that matmul_exact needs for one call.
int64_t ExactScratchFloats(int64_t n_in, int64_t n_tok);

// Both compute rows [args.row_begin, args.row_end) of y from args.x (args.xq is unused).
// Precondition: IsQuantized(args.dtype); `scratch` is 64-byte aligned, ExactScratchFloats
// floats, used by this call only. The AVX-512 one needs GetCpuFeatures().HasAvx512Kernels().
namespace generic {
void MatMulExact(const MatMulArgs& args, float* scratch);
}  // namespace generic
namespace avx512 {
void MatMulExact(const MatMulArgs& args, float* scratch);
}  // namespace avx512

}  // namespace flashstream::cpu
