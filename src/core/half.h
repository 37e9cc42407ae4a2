// Conversions between IEEE fp16 / bfloat16 bit patterns and f32.
// Scalar functions are exact (f16/bf16 -> f32) or round to nearest even (f32 -> f16/bf16),
// so they agree bit for bit with the F16C instructions used by the row functions when the
// CPU has them. NaN stays NaN; values beyond the fp16 range become +-inf. Pure functions;
// thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

namespace flashstream {

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: value = mant * 2^-24; renormalize.
    int shift = 0;
    uint32_t m = mant;
    while ((m & 0x400u) == 0) {
      m <<= 1;
      ++shift;
    }
    bits = sign | ((113u - static_cast<uint32_t>(shift)) << 23) | ((m & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float f);

inline float BF16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline uint16_t FloatToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

// Row conversions of n values; src and dst must not overlap. Use F16C when available.
void HalfToFloatRow(const uint16_t* src, float* dst, int64_t n);
void FloatToHalfRow(const float* src, uint16_t* dst, int64_t n);
void BF16ToFloatRow(const uint16_t* src, float* dst, int64_t n);
void FloatToBF16Row(const float* src, uint16_t* dst, int64_t n);

}  // namespace flashstream
