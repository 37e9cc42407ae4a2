// Portable exact quantized matmul: the operation order of matmul_exact.h written out lane by
// lane. std::fma is the same single rounding as the AVX-512 kernels' vfmadd, so both give
// the same bits. Also the scratch sizing shared by both.
#include <cmath>
#include <cstring>

#include "backend/cpu/matmul_exact.h"
#include "backend/cpu/quant.h"
#include "core/half.h"

namespace flashstream::cpu {

int64_t ExactPanelRows(int64_t n_in) {
  constexpr int64_t kPanelFloats = 96 * 1024;  // 384 KiB: a panel and a token tile stay in L2
  const int64_t rows = kPanelFloats / (n_in > 0 ? n_in : 1) / 4 * 4;
  return rows > 4 ? rows : 4;
}

int64_t ExactBlockSumStride(int64_t n_in) { return (n_in / 32 + 15) / 16 * 16; }

int64_t ExactScratchFloats(int64_t n_in, int64_t n_tok) {
  const int64_t nb16 = ExactBlockSumStride(n_in);
  return n_tok * nb16 + ExactPanelRows(n_in) * (n_in + 2 * nb16);
}

namespace generic {
namespace {

float ReduceLanes(const float (&lane)[16]) {
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = lane[i] + lane[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

void DequantizingRow(const MatMulArgs& a, int64_t r, float* w) {
  DequantizeRow(a.dtype, a.w + static_cast<uint64_t>(r) * RowBytes(a.dtype, a.n_in), w, a.n_in);
  for (int64_t t = 0; t < a.n_tok; ++t) {
    const float* x = a.x + t * a.n_in;
    float lane[16] = {};
    for (int64_t k = 0; k < a.n_in; k += 16) {
      for (int l = 0; l < 16; ++l) lane[l] = std::fma(w[k + l], x[k + l], lane[l]);
    }
    a.y[t * a.n_out + r] = ReduceLanes(lane);
  }
}

// One Q4_0 / Q4_1 block: d, m (m = -8 d for Q4_0) and 16 q of every value.
struct Q4Block {
  float d, m;
  float q16[32];
};

Q4Block LoadQ4Block(DType dtype, const std::byte* p) {
  Q4Block b;
  uint16_t h[2];
  std::memcpy(h, p, 4);
  b.d = HalfToFloat(h[0]);
  b.m = dtype == DType::kQ4_1 ? HalfToFloat(h[1]) : -8.f * b.d;
  const auto* qs = reinterpret_cast<const uint8_t*>(p + (dtype == DType::kQ4_1 ? 4 : 2));
  for (int l = 0; l < 16; ++l) {
    b.q16[l] = static_cast<float>(16 * (qs[l] & 0xF));
    b.q16[l + 16] = static_cast<float>(qs[l] & 0xF0);
  }
  return b;
}

// s[t, b]: the block sums S of matmul_exact.h, zero-padded to nb16 per token.
void BlockSums(const MatMulArgs& a, int64_t nb16, float* s) {
  for (int64_t t = 0; t < a.n_tok; ++t) {
    for (int64_t b = 0; b < nb16; ++b) {
      float v[16] = {};
      if (b < a.n_in / 32) {
        const float* x = a.x + t * a.n_in + 32 * b;
        for (int l = 0; l < 16; ++l) v[l] = x[l] + x[l + 16];
      }
      s[t * nb16 + b] = ReduceLanes(v);
    }
  }
}

void BlockScaledRow(const MatMulArgs& a, int64_t r, const float* s, int64_t nb16) {
  const int64_t nb = a.n_in / 32;
  const uint64_t block_bytes = RowBytes(a.dtype, 32);
  const std::byte* row = a.w + static_cast<uint64_t>(r) * RowBytes(a.dtype, a.n_in);
  for (int64_t t = 0; t < a.n_tok; ++t) {
    const float* x = a.x + t * a.n_in;
    float lane[16] = {};
    for (int64_t b = 0; b < nb; ++b) {
      if (b % 16 == 0) {
        for (int l = 0; l < 16 && b + l < nb; ++l) {
          lane[l] = std::fma(LoadQ4Block(a.dtype, row + (b + l) * block_bytes).m, s[t * nb16 + b + l], lane[l]);
        }
      }
      const Q4Block blk = LoadQ4Block(a.dtype, row + b * block_bytes);
      const float d16 = blk.d * 0.0625f;
      for (int l = 0; l < 16; ++l) {
        float p = blk.q16[l] * x[32 * b + l];
        p = std::fma(blk.q16[l + 16], x[32 * b + 16 + l], p);
        lane[l] = std::fma(p, d16, lane[l]);
      }
    }
    a.y[t * a.n_out + r] = ReduceLanes(lane);
  }
}

}  // namespace

void MatMulExact(const MatMulArgs& a, float* scratch) {
  if (a.dtype == DType::kQ4_0 || a.dtype == DType::kQ4_1) {
    const int64_t nb16 = ExactBlockSumStride(a.n_in);
    BlockSums(a, nb16, scratch);
    for (int64_t r = a.row_begin; r < a.row_end; ++r) BlockScaledRow(a, r, scratch, nb16);
    return;
  }
  for (int64_t r = a.row_begin; r < a.row_end; ++r) DequantizingRow(a, r, scratch);
}

}  // namespace generic
}  // namespace flashstream::cpu
