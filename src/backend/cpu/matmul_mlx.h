// MLX affine-quantized matmul (kMlxQ4, kMlxQ8; see core/mlx_quant.h) with f32
// activations: y[n_tok, n_out] = x[n_tok, n_in] · W^T, W = q * scale + bias per
// group of G values, computed on the packed codes (never dequantized at load).
//
// Operation order. Every kernel (generic or AVX-512, any row split, token count
// or weight address) computes each y[t, r] with exactly these f32 operations,
// so results are bitwise equal across all of them. With groups g of G values,
// codes q (exact in f32), scale s_g and bias b_g of row r, and the per-token
// group sums X[t, g, l] = ((0 + x[gG + l]) + x[gG + 16 + l])
// + ... over the G/16 chunks:
//   lane[l] = 0 for l in 0..15; for each group g: p[l] = 0; for each chunk k of
//   the group: p[l] = fma(q[gG + 16k + l], x[gG + 16k + l], p[l]); then lane[l]
//   = fma(p[l], s_g, lane[l]); lane[l] = fma(X[t, g, l], b_g, lane[l]). y =
//   ReduceLanes(lane) as in matmul_exact.h.
// Error: within (n_in/16 + G/16 + 6) * 2^-24 * sum_i (|q_i s_g| + |b_g|) |x_i|
// of the exact product.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace flashstream::cpu {

// Rows [row_begin, row_end) of one MLX matmul.
struct MlxMatMulArgs {
  const TensorView* w = nullptr;  // [n_out, n_in], IsMlx(dtype), companions attached
  int64_t row_begin = 0, row_end = 0;
  int64_t n_tok = 0;
  const float* x = nullptr;     // [n_tok, n_in]
  const float* xsum = nullptr;  // [n_tok, n_in / G, 16]: MlxGroupSums of x
  float* y = nullptr;           // [n_tok, n_out]
  float* scratch = nullptr;     // MlxScratchFloats(n_in) floats, this call's own
                                // (64-byte aligned)
};

// The per-token group sums X of the operation order above: xsum[n_tok, n_in /
// G, 16].
void MlxGroupSums(const float* x, int64_t n_tok, int64_t n_in, int group_size, float* xsum);

// Scratch floats one MLX matmul call needs: an unpacked row of codes, then the row's scales
// and biases widened to f32 (at most n_in / 16 groups each).
inline int64_t MlxScratchFloats(int64_t n_in) { return (n_in + 15) / 16 * 16 + 2 * ((n_in / 16 + 15) / 16 * 16); }

// Row r's scales and biases as f32: aux[0, ng) = scales, aux[ng, 2 ng) = biases (exact widening).
void MlxRowAux(const TensorView& w, int64_t r, float* aux);

namespace generic {
void MatMulMlx(const MlxMatMulArgs& args);
}  // namespace generic
// Precondition: GetCpuFeatures().HasAvx512Kernels().
namespace avx512 {
void MatMulMlx(const MlxMatMulArgs& args);
}  // namespace avx512

}  // namespace flashstream::cpu
