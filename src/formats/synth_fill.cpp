#include "formats/synth_fill.h"

#include <cmath>    // std::sqrt
#include <cstring>  // std::memcpy

#include "core/check.h"  // FS_CHECK on unsupported dtypes

namespace flashstream::synth_detail {
namespace {

constexpr float kWeightStd = 0.02f;
const float kWeightBound = kWeightStd * std::sqrt(3.f);  // uniform [-b, b] has std 0.02
constexpr float kNormJitter = 0.05f;

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Uniform in [-1, 1) from 24 random bits.
float Symmetric(uint64_t bits) { return static_cast<float>(bits & 0xffffff) * (2.f / 16777216.f) - 1.f; }

uint16_t F32ToBf16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);  // round to nearest even
}

void FillF32(Fill fill, Rng& rng, std::byte* dst, int64_t n) {
  const float center = fill == Fill::kNorm ? 1.f : 0.f;
  const float bound = fill == Fill::kNorm ? kNormJitter : kWeightBound;
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t r = rng.Next();
    const float v[2] = {center + bound * Symmetric(r), center + bound * Symmetric(r >> 32)};
    std::memcpy(dst + i * 4, v, (n - i >= 2 ? 2 : 1) * 4);
  }
}

void FillHalf(const std::array<uint16_t, 65536>& table, Rng& rng, std::byte* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint64_t r = rng.Next();
    const uint16_t h[4] = {table[r & 0xffff], table[(r >> 16) & 0xffff], table[(r >> 32) & 0xffff], table[r >> 48]};
    std::memcpy(dst + i * 2, h, 8);
  }
  for (; i < n; ++i) {
    const uint16_t h = table[rng.Next() & 0xffff];
    std::memcpy(dst + i * 2, &h, 2);
  }
}

void FillRandomBytes(Rng& rng, std::byte* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t r = rng.Next();
    std::memcpy(dst + i, &r, 8);
  }
  const uint64_t r = rng.Next();
  std::memcpy(dst + i, &r, n - i);
}

// Block quants: random quants, then each block's f16 scale (and min) replaced by one of 256
// precomputed values near the base scale (+-10%), picked by the random byte already there.
// Values then span about [-kWeightBound, kWeightBound] like the float weights.
void FillQuant(DType dtype, const HalfTables& tables, Rng& rng, std::byte* dst, int64_t n_blocks) {
  const int block_bytes = Info(dtype).block_bytes;
  FillRandomBytes(rng, dst, static_cast<size_t>(n_blocks * block_bytes));
  const QuantScales& q = dtype == DType::kQ8_0 ? tables.q8_0 : dtype == DType::kQ4_0 ? tables.q4_0 : tables.q4_1;
  for (int64_t b = 0; b < n_blocks; ++b) {
    std::byte* block = dst + b * block_bytes;
    const uint8_t pick = static_cast<uint8_t>(block[0]);
    std::memcpy(block, &q.d[pick], 2);
    if (dtype == DType::kQ4_1) std::memcpy(block + 2, &q.m[pick], 2);
  }
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& w : s_) w = SplitMix(seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed ^ (a * 0x9e3779b97f4a7c15ull);
  x = SplitMix(x) ^ (b * 0xc2b2ae3d27d4eb4full);
  return SplitMix(x);
}

HalfTables::HalfTables() {
  for (uint32_t i = 0; i < 65536; ++i) {
    const float v = kWeightBound * ((static_cast<float>(i) + 0.5f) * (2.f / 65536.f) - 1.f);
    f16[i] = F32ToF16Bits(v);
    bf16[i] = F32ToBf16Bits(v);
  }
  for (uint32_t i = 0; i < 256; ++i) {
    const float jitter = 1.f + 0.1f * ((static_cast<float>(i) + 0.5f) / 128.f - 1.f);
    q8_0.d[i] = F32ToF16Bits(jitter * kWeightBound / 127.f);  // value = q * d, q in [-128, 127]
    q4_0.d[i] = F32ToF16Bits(jitter * kWeightBound / 8.f);    // value = (q - 8) * d, q in [0, 15]
    q4_1.d[i] = F32ToF16Bits(jitter * 2.f * kWeightBound / 15.f);  // value = q * d + m
    q4_1.m[i] = F32ToF16Bits(-jitter * kWeightBound);
  }
}

uint16_t F32ToF16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int32_t exp8 = static_cast<int32_t>((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffff;
  if (exp8 == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));  // inf / nan
  const int32_t exp = exp8 - 127 + 15;
  if (exp >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);  // overflow -> inf
  if (exp <= 0) {                                               // subnormal or zero
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const int shift = 14 - exp;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // a carry rounds into the exponent
  return static_cast<uint16_t>(half);
}

void FillRandom(DType dtype, Fill fill, const HalfTables& tables, Rng& rng, std::byte* dst, int64_t n_elems) {
  FS_CHECK(fill == Fill::kWeight || dtype == DType::kF32, "norms are f32, got {}", Name(dtype));
  switch (dtype) {
    case DType::kF32: return FillF32(fill, rng, dst, n_elems);
    case DType::kF16: return FillHalf(tables.f16, rng, dst, n_elems);
    case DType::kBF16: return FillHalf(tables.bf16, rng, dst, n_elems);
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1: return FillQuant(dtype, tables, rng, dst, n_elems / Info(dtype).block_elems);
    default: FS_CHECK(false, "synthetic {} weights are not supported", Name(dtype));
  }
}

}  // namespace flashstream::synth_detail
