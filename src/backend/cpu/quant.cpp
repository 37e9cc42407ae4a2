#include "backend/cpu/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"

namespace flashstream {
namespace {

template <typename Block>
Block LoadBlock(const uint8_t* p) {
  Block b;
  std::memcpy(&b, p, sizeof(b));
  return b;
}

void DequantizeQ8_0(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ8_0>(src + i * sizeof(BlockQ8_0));
    const float d = HalfToFloat(b.d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = d * static_cast<float>(b.qs[j]);
  }
}

void DequantizeQ4_0(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ4_0>(src + i * sizeof(BlockQ4_0));
    const float d = HalfToFloat(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[i * kQK + j] = d * static_cast<float>((b.qs[j] & 0xF) - 8);
      dst[i * kQK + j + kQK / 2] = d * static_cast<float>((b.qs[j] >> 4) - 8);
    }
  }
}

void DequantizeQ5_0(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ5_0>(src + i * sizeof(BlockQ5_0));
    const float d = HalfToFloat(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (b.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      dst[i * kQK + j] = d * static_cast<float>(lo - 16);
      dst[i * kQK + j + kQK / 2] = d * static_cast<float>(hi - 16);
    }
  }
}

void DequantizeQ4_1(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ4_1>(src + i * sizeof(BlockQ4_1));
    const float d = HalfToFloat(b.d);
    const float m = HalfToFloat(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[i * kQK + j] = d * static_cast<float>(b.qs[j] & 0xF) + m;
      dst[i * kQK + j + kQK / 2] = d * static_cast<float>(b.qs[j] >> 4) + m;
    }
  }
}

void DequantizeQ4_K(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ4_K>(src + i * sizeof(BlockQ4_K));
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    float* y = dst + i * kQKK;
    for (int c = 0; c < 4; ++c) {  // chunk of 64 elements = sub-blocks 2c and 2c+1
      uint8_t sc0, m0, sc1, m1;
      UnpackQ4KScales(b.scales, 2 * c, &sc0, &m0);
      UnpackQ4KScales(b.scales, 2 * c + 1, &sc1, &m1);
      const uint8_t* q = b.qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        y[64 * c + l] = d * sc0 * static_cast<float>(q[l] & 0xF) - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * static_cast<float>(q[l] >> 4) - dmin * m1;
      }
    }
  }
}

void DequantizeQ5_K(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ5_K>(src + i * sizeof(BlockQ5_K));
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    float* y = dst + i * kQKK;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      UnpackQ4KScales(b.scales, 2 * c, &sc0, &m0);
      UnpackQ4KScales(b.scales, 2 * c + 1, &sc1, &m1);
      const uint8_t* q = b.qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        const int h0 = (b.qh[l] >> (2 * c)) & 1;
        const int h1 = (b.qh[l] >> (2 * c + 1)) & 1;
        y[64 * c + l] = d * sc0 * static_cast<float>((q[l] & 0xF) + 16 * h0) - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * static_cast<float>((q[l] >> 4) + 16 * h1) - dmin * m1;
      }
    }
  }
}

void DequantizeQ6_K(const uint8_t* src, float* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = LoadBlock<BlockQ6_K>(src + i * sizeof(BlockQ6_K));
    const float d = HalfToFloat(b.d);
    for (int half = 0; half < 2; ++half) {  // 128 elements each
      const uint8_t* ql = b.ql + 64 * half;
      const uint8_t* qh = b.qh + 32 * half;
      const int8_t* sc = b.scales + 8 * half;
      float* y = dst + i * kQKK + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void QuantizeQ8_0(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* v = x + i * kQK;
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ8_0 b;
    b.d = FloatToHalf(d);
    for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(std::round(v[j] * id));
    std::memcpy(dst + i * sizeof(b), &b, sizeof(b));
  }
}

void QuantizeQ4_0(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* v = x + i * kQK;
    float amax = 0.f, max = 0.f;  // max: the value of largest magnitude, with its sign
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(v[j])) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ4_0 b;
    b.d = FloatToHalf(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(v[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(v[j + kQK / 2] * id + 8.5f));
      b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    std::memcpy(dst + i * sizeof(b), &b, sizeof(b));
  }
}

void QuantizeQ4_1(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* v = x + i * kQK;
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      min = std::min(min, v[j]);
      max = std::max(max, v[j]);
    }
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ4_1 b;
    b.d = FloatToHalf(d);
    b.m = FloatToHalf(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>((v[j] - min) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((v[j + kQK / 2] - min) * id + 0.5f));
      b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    std::memcpy(dst + i * sizeof(b), &b, sizeof(b));
  }
}

// Scale from the value of largest magnitude m: d = m / -16, so m maps to q = 0 and the
// other values to round(x / d) + 16, clamped to 31.
void QuantizeQ5_0(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* v = x + i * kQK;
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(v[j]) > amax) amax = std::fabs(v[j]), max = v[j];
    }
    const float d = max / -16.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ5_0 b;
    b.d = FloatToHalf(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(31, static_cast<int>(v[j] * id + 16.5f));
      const int q1 = std::min(31, static_cast<int>(v[j + kQK / 2] * id + 16.5f));
      b.qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(b.qh, &qh, 4);
    std::memcpy(dst + i * sizeof(b), &b, sizeof(b));
  }
}

}  // namespace

void UnpackQ4KScales(const uint8_t scales[12], int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

void DequantizeRow(DType dtype, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const int64_t nb = n / Info(dtype).block_elems;
  FS_CHECK(nb * Info(dtype).block_elems == n, "{} values is not a whole number of {} blocks", n, Name(dtype));
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, p, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = HalfToFloat(h);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = BF16ToFloat(h);
      }
      return;
    case DType::kQ8_0: return DequantizeQ8_0(p, dst, nb);
    case DType::kQ4_0: return DequantizeQ4_0(p, dst, nb);
    case DType::kQ4_1: return DequantizeQ4_1(p, dst, nb);
    case DType::kQ4_K: return DequantizeQ4_K(p, dst, nb);
    case DType::kQ5_K: return DequantizeQ5_K(p, dst, nb);
    case DType::kQ6_K: return DequantizeQ6_K(p, dst, nb);
    case DType::kQ5_0: return DequantizeQ5_0(p, dst, nb);
    case DType::kMlxQ4:  // scales and biases live in other tensors: MlxDequantizeRow
    case DType::kMlxQ8:
    case DType::kI32:
    case DType::kCount: break;
  }
  FS_CHECK(false, "DequantizeRow: unsupported dtype {}", Name(dtype));
}

void QuantizeRow(DType dtype, const float* src, void* dst, int64_t n) {
  FS_CHECK(n % kQK == 0, "QuantizeRow: {} values is not a multiple of {}", n, kQK);
  auto* p = static_cast<uint8_t*>(dst);
  switch (dtype) {
    case DType::kQ8_0: return QuantizeQ8_0(src, p, n / kQK);
    case DType::kQ4_0: return QuantizeQ4_0(src, p, n / kQK);
    case DType::kQ4_1: return QuantizeQ4_1(src, p, n / kQK);
    case DType::kQ5_0: return QuantizeQ5_0(src, p, n / kQK);
    default: break;
  }
  FS_CHECK(false, "QuantizeRow: unsupported dtype {}", Name(dtype));
}

}  // namespace flashstream
