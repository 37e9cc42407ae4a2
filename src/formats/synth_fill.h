// Random weight bytes for the synthetic-model generator (internal to src/formats).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"  // DType block layouts

namespace flashstream::synth_detail {

// xoshiro256** seeded through splitmix64: fast, small state, good enough for fake weights.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();

 private:
  std::array<uint64_t, 4> s_{};
};

// Mixes a seed with two indices into a new seed (splitmix64 finalizer).
uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b);

// What the values of a tensor should look like.
enum class Fill { kWeight, kNorm };  // kWeight: zero-mean, std 0.02; kNorm: 1 +- 0.05

// 256 f16 block scales (and mins, for q4_1) around one base value.
struct QuantScales {
  std::array<uint16_t, 256> d{};
  std::array<uint16_t, 256> m{};
};

// Lookup tables: 16 random bits -> uniform f16/bf16 weight value, 8 random bits -> block scale.
// Immutable once built; share freely between threads.
struct HalfTables {
  HalfTables();
  std::array<uint16_t, 65536> f16;
  std::array<uint16_t, 65536> bf16;
  QuantScales q8_0, q4_0, q4_1;
};

// Fills `n_elems` values of `dtype` (a multiple of its block size) at dst. Supported dtypes:
// f32, f16, bf16, q8_0, q4_0, q4_1 (kNorm: f32 only).
void FillRandom(DType dtype, Fill fill, const HalfTables& tables, Rng& rng, std::byte* dst, int64_t n_elems);

uint16_t F32ToF16Bits(float f);

}  // namespace flashstream::synth_detail
