// Portable MLX matmul: the operation order of matmul_mlx.h written out lane by
// lane (std::fma is the same single rounding as the AVX-512 kernel's vfmadd).
#include <cmath>
#include <cstring>

#include "backend/cpu/matmul_mlx.h"
#include "core/half.h"
#include "core/mlx_quant.h"

namespace flashstream::cpu {
namespace {

float ReduceLanes(const float (&lane)[16]) {
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = lane[i] + lane[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

}  // namespace

void MlxGroupSums(const float* x, int64_t n_tok, int64_t n_in, int group_size, float* xsum) {
  const int64_t ng = n_in / group_size;
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t g = 0; g < ng; ++g) {
      float* s = xsum + (t * ng + g) * 16;
      const float* xg = x + t * n_in + g * group_size;
      for (int l = 0; l < 16; ++l) s[l] = 0.f;
      for (int k = 0; k < group_size; k += 16) {
        for (int l = 0; l < 16; ++l) s[l] += xg[k + l];
      }
    }
  }
}

void MlxRowAux(const TensorView& w, int64_t r, float* aux) {
  const int64_t ng = w.cols() / w.group_size;
  const std::byte* s = w.scale_row(r);
  const std::byte* b = w.bias_row(r);
  switch (w.aux_dtype) {
    case DType::kF32:
      std::memcpy(aux, s, static_cast<size_t>(ng) * 4);
      std::memcpy(aux + ng, b, static_cast<size_t>(ng) * 4);
      return;
    case DType::kBF16:  // separate loops per dtype so each one vectorizes
      for (int64_t g = 0; g < ng; ++g) {
        uint16_t hs, hb;
        std::memcpy(&hs, s + 2 * g, 2);
        std::memcpy(&hb, b + 2 * g, 2);
        aux[g] = BF16ToFloat(hs);
        aux[ng + g] = BF16ToFloat(hb);
      }
      return;
    case DType::kF16:
      for (int64_t g = 0; g < ng; ++g) {
        uint16_t hs, hb;
        std::memcpy(&hs, s + 2 * g, 2);
        std::memcpy(&hb, b + 2 * g, 2);
        aux[g] = HalfToFloat(hs);
        aux[ng + g] = HalfToFloat(hb);
      }
      return;
    default:
      for (int64_t g = 0; g < ng; ++g) {
        aux[g] = MlxAux(w.aux_dtype, s, g);
        aux[ng + g] = MlxAux(w.aux_dtype, b, g);
      }
  }
}

namespace generic {

void MatMulMlx(const MlxMatMulArgs& a) {
  const TensorView& w = *a.w;
  const int64_t n_in = w.cols(), n_out = w.rows();
  const int g_size = w.group_size;
  const int64_t ng = n_in / g_size;
  const int bits = MlxBits(w.dtype);
  float* q = a.scratch;                            // [n_in] codes of the current row
  float* aux = a.scratch + (n_in + 15) / 16 * 16;  // [2 ng] its scales, then biases
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const std::byte* row = w.row(r);
    for (int64_t j = 0; j < n_in; ++j) q[j] = static_cast<float>(MlxCode(row, bits, j));
    MlxRowAux(w, r, aux);
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* x = a.x + t * n_in;
      const float* xs = a.xsum + t * ng * 16;
      float lane[16] = {};
      for (int64_t g = 0; g < ng; ++g) {
        const float s = aux[g], b = aux[ng + g];
        float p[16] = {};
        for (int64_t k = g * g_size; k < (g + 1) * g_size; k += 16) {
          for (int l = 0; l < 16; ++l) p[l] = std::fma(q[k + l], x[k + l], p[l]);
        }
        for (int l = 0; l < 16; ++l) lane[l] = std::fma(p[l], s, lane[l]);
        for (int l = 0; l < 16; ++l) lane[l] = std::fma(xs[g * 16 + l], b, lane[l]);
      }
      a.y[t * n_out + r] = ReduceLanes(lane);
    }
  }
}

}  // namespace generic
}  // namespace flashstream::cpu
