// Portable kernels: plain C++ for any CPU. Same arithmetic scheme as the AVX-512 kernels
// (int8 activations with integer block dot products for quantized weights, f32 for float
// weights), written for clarity; used when AVX-512 VNNI is absent or FS_CPU_ISA=generic.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul_exact.h"  // generic::MatMulExact
#include "backend/cpu/matmul_mlx.h"    // MatMulMlx
#include "backend/cpu/quant.h"
#include "core/half.h"

namespace flashstream::cpu {
namespace {

// ---- activations ----

void QuantizeActs(const float* x, const QuantizedActs& xq, int64_t t_begin, int64_t t_end) {
  const int64_t nb = xq.n_pad / kQK;
  const int shift = 8 * (xq.levels - 1);
  const float unit = static_cast<float>(1 << shift), down = 1.f / unit;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* xt = x + t * xq.n_in;
    float* d = xq.d + t * nb;
    float* cx32 = xq.cx32 + t * nb;
    float* cx16 = xq.cx16 + t * 2 * nb;
    for (int64_t b = 0; b < nb; ++b) {
      float scale = 0.f;
      int sum[2] = {0, 0};
      for (int j = 0; j < kQK; ++j) {
        for (int l = 0; l < xq.levels; ++l) xq.q_row_mut(t, l)[b * kQK + j] = 0;
      }
      if (b * kQK < xq.n_in) {
        float amax = 0.f;
        for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(xt[b * kQK + j]));
        const float top = amax / 127.f;
        const float inv = (top != 0.f ? 1.f / top : 0.f) * unit;
        scale = top * down;
        for (int j = 0; j < kQK; ++j) {
          int32_t v = static_cast<int32_t>(std::nearbyint(xt[b * kQK + j] * inv));
          sum[j / 16] += v;
          for (int l = xq.levels - 1; l >= 0; --l) {  // digits from the last (QuantizedActs)
            const int32_t high = l > 0 ? (v + 128) >> 8 : 0;
            xq.q_row_mut(t, l)[b * kQK + j] = static_cast<int8_t>(v - high * 256);
            v = high;
          }
        }
      }
      d[b] = scale;
      cx32[b] = scale * static_cast<float>(sum[0] + sum[1]);
      cx16[2 * b] = scale * static_cast<float>(sum[0]);
      cx16[2 * b + 1] = scale * static_cast<float>(sum[1]);
    }
  }
}

// ---- quantized weights as units: w[i] = s[unit] * u[i] + o[unit], u in 0..255 ----

template <typename Block>
Block Load(const std::byte* p) {
  Block b;
  std::memcpy(&b, p, sizeof(b));
  return b;
}

// Decodes one row of n values; returns the unit size (32 or 16).
int DecodeUnits(DType dtype, const std::byte* row, int64_t n, uint8_t* u, float* s, float* o) {
  switch (dtype) {
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / kQK; ++b) {
        const auto blk = Load<BlockQ8_0>(row + b * sizeof(BlockQ8_0));
        const float d = HalfToFloat(blk.d);
        s[b] = d;
        o[b] = -128.f * d;
        for (int j = 0; j < kQK; ++j) u[b * kQK + j] = static_cast<uint8_t>(blk.qs[j] + 128);
      }
      return 32;
    case DType::kQ4_0:
    case DType::kQ4_1:
      for (int64_t b = 0; b < n / kQK; ++b) {
        const uint8_t* qs;
        if (dtype == DType::kQ4_0) {
          const auto blk = Load<BlockQ4_0>(row + b * sizeof(BlockQ4_0));
          s[b] = HalfToFloat(blk.d);
          o[b] = -8.f * s[b];
          qs = reinterpret_cast<const uint8_t*>(row + b * sizeof(BlockQ4_0) + 2);
        } else {
          const auto blk = Load<BlockQ4_1>(row + b * sizeof(BlockQ4_1));
          s[b] = HalfToFloat(blk.d);
          o[b] = HalfToFloat(blk.m);
          qs = reinterpret_cast<const uint8_t*>(row + b * sizeof(BlockQ4_1) + 4);
        }
        for (int j = 0; j < kQK / 2; ++j) {
          u[b * kQK + j] = qs[j] & 0xF;
          u[b * kQK + j + 16] = qs[j] >> 4;
        }
      }
      return 32;
    case DType::kQ4_K:
    case DType::kQ5_K:
      for (int64_t sb = 0; sb < n / kQKK; ++sb) {
        const bool q5 = dtype == DType::kQ5_K;
        const std::byte* p = row + sb * (q5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
        uint16_t dh, dminh;
        uint8_t scales[12];
        std::memcpy(&dh, p, 2);
        std::memcpy(&dminh, p + 2, 2);
        std::memcpy(scales, p + 4, 12);
        const auto* qh = reinterpret_cast<const uint8_t*>(p + 16);
        const auto* qs = reinterpret_cast<const uint8_t*>(p + (q5 ? 48 : 16));
        const float d = HalfToFloat(dh), dmin = HalfToFloat(dminh);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          UnpackQ4KScales(scales, j, &sc, &m);
          s[sb * 8 + j] = d * static_cast<float>(sc);
          o[sb * 8 + j] = -(dmin * static_cast<float>(m));
          const int c = j / 2, shift = 4 * (j % 2);
          for (int l = 0; l < 32; ++l) {
            int v = (qs[32 * c + l] >> shift) & 0xF;
            if (q5) v += 16 * ((qh[l] >> j) & 1);
            u[sb * kQKK + 32 * j + l] = static_cast<uint8_t>(v);
          }
        }
      }
      return 32;
    case DType::kQ6_K:
      for (int64_t sb = 0; sb < n / kQKK; ++sb) {
        const auto blk = Load<BlockQ6_K>(row + sb * sizeof(BlockQ6_K));
        const float d = HalfToFloat(blk.d);
        for (int g = 0; g < 16; ++g) {
          s[sb * 16 + g] = d * static_cast<float>(blk.scales[g]);
          o[sb * 16 + g] = -32.f * s[sb * 16 + g];
        }
        for (int half = 0; half < 2; ++half) {
          const uint8_t* ql = blk.ql + 64 * half;
          const uint8_t* qh = blk.qh + 32 * half;
          uint8_t* uh = u + sb * kQKK + 128 * half;
          for (int l = 0; l < 32; ++l) {
            uh[l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
            uh[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
            uh[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            uh[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
          }
        }
      }
      return 16;
    default:
      return 0;
  }
}

void MatMulQuantized(const MatMulArgs& a) {
  const QuantizedActs& xq = *a.xq;
  std::vector<uint8_t> u(static_cast<size_t>(a.n_in));
  std::vector<float> s(static_cast<size_t>(a.n_in / 16)), o(static_cast<size_t>(a.n_in / 16));
  const uint64_t row_bytes = RowBytes(a.dtype, a.n_in);
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const int unit = DecodeUnits(a.dtype, a.w + static_cast<uint64_t>(r) * row_bytes, a.n_in, u.data(), s.data(),
                                 o.data());
    const int64_t n_units = a.n_in / unit;
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* d = xq.d_row(t);
      const float* cx = unit == 32 ? xq.cx32_row(t) : xq.cx16_row(t);
      float acc = 0.f;
      for (int64_t k = 0; k < n_units; ++k) {
        // Levels combined as in the AVX-512 kernels: int32 for the first two, f32 for a third.
        int32_t dot = 0;
        for (int l = 0; l < std::min(xq.levels, 2); ++l) {
          const int8_t* q = xq.q_row(t, l);
          dot *= 256;
          for (int i = 0; i < unit; ++i) dot += u[k * unit + i] * q[k * unit + i];
        }
        float dotf = static_cast<float>(dot);
        if (xq.levels == 3) {
          const int8_t* q = xq.q_row(t, 2);
          int32_t dot3 = 0;
          for (int i = 0; i < unit; ++i) dot3 += u[k * unit + i] * q[k * unit + i];
          dotf = std::fma(dotf, 256.f, static_cast<float>(dot3));
        }
        acc += dotf * (s[k] * d[k * unit / kQK]);
        acc += o[k] * cx[k];
      }
      a.y[t * a.n_out + r] = acc;
    }
  }
}

void MatMulFloat(const MatMulArgs& a) {
  std::vector<float> w(static_cast<size_t>(a.n_in));
  const uint64_t row_bytes = RowBytes(a.dtype, a.n_in);
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const std::byte* row = a.w + static_cast<uint64_t>(r) * row_bytes;
    if (a.dtype == DType::kF32) {
      std::memcpy(w.data(), row, row_bytes);
    } else {
      DequantizeRow(a.dtype, row, w.data(), a.n_in);
    }
    for (int64_t t = 0; t < a.n_tok; ++t) {
      const float* x = a.x + t * a.n_in;
      float acc[8] = {};
      int64_t i = 0;
      for (; i + 8 <= a.n_in; i += 8) {
        for (int l = 0; l < 8; ++l) acc[l] += w[i + l] * x[i + l];
      }
      for (; i < a.n_in; ++i) acc[i % 8] += w[i] * x[i];
      a.y[t * a.n_out + r] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
  }
}

void MatMul(const MatMulArgs& a) {
  if (IsQuantized(a.dtype)) return MatMulQuantized(a);
  MatMulFloat(a);
}

// ---- attention and element-wise ops ----

// Online softmax, one key at a time per (token, head): a larger score rescales what was
// accumulated. The portable path and the reference order for nothing else.
void Attend(const AttnTask& t) {
  const int group = t.n_heads / t.n_kv_heads;
  for (int i = 0; i < t.n_q; ++i) {
    const int64_t j0 = std::max<int64_t>(0, t.lo[i]);
    const int64_t j1 = std::min(t.n_keys, t.hi[i]);
    for (int h = 0; h < t.n_heads; ++h) {
      const int64_t th = static_cast<int64_t>(i) * t.n_heads + h;
      const float* q = t.q + th * t.head_dim;
      const int64_t kv_off = static_cast<int64_t>(h / group) * t.head_dim;
      float* out = t.out + th * t.head_dim;
      if (!t.resume) {
        t.max[th] = -INFINITY;
        t.sum[th] = 0.f;
        for (int d = 0; d < t.head_dim; ++d) out[d] = 0.f;
      }
      float max = t.max[th], sum = t.sum[th];
      for (int64_t j = j0; j < j1; ++j) {
        const float* k = t.k + j * t.kv_stride + kv_off;
        float dot = 0.f;
        for (int d = 0; d < t.head_dim; ++d) dot += q[d] * k[d];
        const float s = dot * t.scale;
        if (s > max) {
          const float corr = max == -INFINITY ? 0.f : std::exp(max - s);
          sum *= corr;
          for (int d = 0; d < t.head_dim; ++d) out[d] *= corr;
          max = s;
        }
        const float w = std::exp(s - max);
        sum += w;
        const float* v = t.v + j * t.kv_stride + kv_off;
        for (int d = 0; d < t.head_dim; ++d) out[d] += w * v[d];
      }
      t.max[th] = max;
      t.sum[th] = sum;
    }
  }
}

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

void Add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace

const CpuKernels& GenericKernels() {
  static const CpuKernels kernels{
      "generic", [](DType) { return false; }, QuantizeActs,      MatMul, Attend, DequantizeKvRows, RmsNorm, SwiGlu,
      Add,       generic::MatMulExact,        generic::MatMulMlx};
  return kernels;
}

}  // namespace flashstream::cpu
