#include "core/mlx_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"

namespace flashstream {
namespace {

void StoreAux(DType aux, float v, std::byte* p, int64_t i) {
  switch (aux) {
    case DType::kF32:
      std::memcpy(p + 4 * i, &v, 4);
      return;
    case DType::kF16: {
      const uint16_t h = FloatToHalf(v);
      std::memcpy(p + 2 * i, &h, 2);
      return;
    }
    case DType::kBF16: {
      const uint16_t h = FloatToBF16(v);
      std::memcpy(p + 2 * i, &h, 2);
      return;
    }
    default:
      break;
  }
  FS_CHECK(false, "MLX scales dtype {} (expected f32, f16 or bf16)", Name(aux));
}

}  // namespace

float MlxAux(DType aux, const std::byte* p, int64_t i) {
  switch (aux) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return HalfToFloat(h);
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return BF16ToFloat(h);
    }
    default:
      break;
  }
  FS_CHECK(false, "MLX scales dtype {} (expected f32, f16 or bf16)", Name(aux));
  return 0.f;
}

void MlxDequantizeRow(DType dtype, const std::byte* packed, const std::byte* scales, const std::byte* biases, DType aux,
                      int group_size, float* dst, int64_t n) {
  FS_CHECK(IsMlx(dtype) && group_size > 0 && n % group_size == 0, "MLX row: {} of {} values, group {}", Name(dtype), n,
           group_size);
  const int bits = MlxBits(dtype);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t g = j / group_size;
    dst[j] = std::fma(static_cast<float>(MlxCode(packed, bits, j)), MlxAux(aux, scales, g), MlxAux(aux, biases, g));
  }
}

void MlxQuantizeRow(DType dtype, const float* src, int group_size, DType aux, std::byte* packed, std::byte* scales,
                    std::byte* biases, int64_t n) {
  FS_CHECK(IsMlx(dtype) && group_size > 0 && n % group_size == 0, "MLX row: {} of {} values, group {}", Name(dtype), n,
           group_size);
  const int bits = MlxBits(dtype);
  const uint32_t q_max = (1u << bits) - 1;
  const int per_word = 32 / bits;
  std::memset(packed, 0, RowBytes(dtype, n));
  for (int64_t g = 0; g < n / group_size; ++g) {
    const float* w = src + g * group_size;
    const auto [lo, hi] = std::minmax_element(w, w + group_size);
    float scale = (*hi - *lo) / static_cast<float>(q_max);
    if (!(scale > 0.f)) scale = 1.f;
    StoreAux(aux, scale, scales, g);
    StoreAux(aux, *lo, biases, g);
    const float s = MlxAux(aux, scales, g), b = MlxAux(aux, biases, g);
    for (int i = 0; i < group_size; ++i) {
      const float q = std::nearbyint((w[i] - b) / s);
      const uint32_t code = static_cast<uint32_t>(std::clamp(q, 0.f, static_cast<float>(q_max)));
      const int64_t j = g * group_size + i;
      auto* word = reinterpret_cast<uint8_t*>(packed) + 4 * (j / per_word);
      const uint32_t shifted = code << (bits * (j % per_word));
      for (int k = 0; k < 4; ++k) word[k] |= static_cast<uint8_t>(shifted >> (8 * k));
    }
  }
}

}  // namespace flashstream
