// Helpers shared by the AVX-512 exact matmul files (matmul_exact_*avx512.cpp). Include only
// from files compiled with AVX-512 flags; everything is in an anonymous namespace so no
// AVX-512 code can be merged into code that runs on other CPUs.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include "backend/cpu/kernels.h"

namespace flashstream::cpu::avx512 {

// Q4_0 and Q4_1 (matmul_exact_q4_avx512.cpp), called by MatMulExact for those dtypes.
void MatMulExactQ4(const MatMulArgs& args, float* scratch);

namespace {

using u8 = uint8_t;

// Calls with fewer tokens run the decode kernels, others the batched (panel) kernels.
constexpr int64_t kMinPanelTokens = 4;
constexpr int kTileRows = 4;
constexpr int kDecodeTokens = kMinPanelTokens - 1;
// Decode prefetches each group of weights this many rows ahead (two tiles) into L2.
constexpr int64_t kPrefetchRows = 8;

__m128i Load128(const u8* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
// 16 bytes at p, zero-extended to 16 int32 lanes.
__m512i Bytes16(const u8* p) { return _mm512_cvtepu8_epi32(Load128(p)); }

// {from, from + step, ..., from + 15 step}
inline __m512 Iota(float from, float step) {
  return _mm512_fmadd_ps(_mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_ps(step),
                         _mm512_set1_ps(from));
}

// The lane reduction of matmul_exact.h: s8[i] = v[i] + v[i+8], s4[i] = s8[i] + s8[i+4],
// then (s4[0] + s4[2]) + (s4[1] + s4[3]).
float ReduceLanes(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

inline void PrefetchL2(const u8* p, int bytes) {
  for (int b = 0; b < bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T1);
}

// The f16 scale of each of the first n_units blocks of kBlockBytes bytes at g, as 16-bit
// lanes 0..15 (0 for absent blocks); with kMin also the f16 word after it (Q4_1's min) in
// lanes 16..31. Reads only the n_units blocks.
template <int kBlockBytes, bool kMin>
__m512i GatherScaleWords(const u8* g, int n_units) {
  constexpr int kWords = kBlockBytes / 2;
  constexpr int kPairs = (kWords * 15 + (kMin ? 1 : 0)) / 64 + 1;  // pairs of vectors spanned
  struct Pair {
    alignas(64) uint16_t idx[32];
    uint32_t lanes;
  };
  struct Table {
    Pair pair[kPairs];
  };
  static constexpr Table kTable = [] {
    Table t{};
    for (int lane = 0; lane < (kMin ? 32 : 16); ++lane) {
      const int word = kWords * (lane % 16) + lane / 16;
      t.pair[word / 64].idx[lane] = static_cast<uint16_t>(word % 64);
      t.pair[word / 64].lanes |= 1u << lane;
    }
    return t;
  }();
  const int bytes = n_units * kBlockBytes;
  __m512i r = _mm512_setzero_si512();
  for (int p = 0; p < kPairs; ++p) {
    __m512i z[2];
    for (int h = 0; h < 2; ++h) {
      const int valid = bytes - 64 * (2 * p + h);
      z[h] = valid >= 64 ? _mm512_loadu_si512(g + 64 * (2 * p + h))
                         : (valid > 0 ? _mm512_maskz_loadu_epi8((1ull << valid) - 1, g + 64 * (2 * p + h))
                                      : _mm512_setzero_si512());
    }
    const __m512i sel = _mm512_permutex2var_epi16(z[0], _mm512_load_si512(kTable.pair[p].idx), z[1]);
    r = _mm512_mask_mov_epi16(r, kTable.pair[p].lanes, sel);
  }
  return r;
}

}  // namespace
}  // namespace flashstream::cpu::avx512
