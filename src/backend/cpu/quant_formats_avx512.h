// Register decoders of the GGML weight formats for the AVX-512 VNNI matmul
// (matmul_avx512.cpp is the only includer; AVX-512 code, run only after the CPU check).
//
// Every format turns a "step" of one row (64 or 128 values) into unsigned bytes u (w =
// s * u + o per block or sub-block) whose vpdpbusd products with the int8 activations are
// exact int32 sums; 4 products per int32 lane, so a lane covers 4 consecutive bytes.
//
// Step-scaled formats (Q8_0, Q4_0, Q4_1) take 4 blocks (128 values) per step, in the split
// activation layout (see QuantizedActs), so one int32 vector holds 4 lanes per block and
// float work is paid once per 4 lanes. Their f16 block scales sit inside the bytes a step
// loads anyway, so the step also yields its per-lane scales; integer
// offsets (-128 for Q8_0's sign trick, -8 for Q4_0) are folded into the int32 dot by
// starting vpdpbusd from -(sum(q) << shift) in each block's first lane. Group-scaled
// formats (K-quants) unpack the scales of a whole 512-value group (two super-blocks; one
// for Q6_K's 256 values) and add their float offsets once per group.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace flashstream::cpu::avx512 {
namespace {

using u8 = uint8_t;

uint16_t Load16(const u8* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
__m256i Load256(const u8* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
__m128i Load128(const u8* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Lane maps: permutexvar(kExpand32[p], v) spreads v[2p], v[2p+1] over 8 int32 lanes each
// (the lanes of 64 natural-layout values p); kExpand16[p] spreads v[4p..4p+3] over 4 lanes each.
alignas(64) constexpr int32_t kExpand32[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},         {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},         {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},         {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13}, {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};
alignas(64) constexpr int32_t kExpand16[4][16] = {
    {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
    {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15},
};

// 16-bit lane shift counts: `a` in the low 256 bits, `b` in the high 256 bits.
__m512i Shift256(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(a))),
                            _mm256_set1_epi16(static_cast<short>(b)), 1);
}

// Index vectors for 16-bit permutes, built at compile time.
struct WordIdx {
  alignas(64) uint16_t v[32];
};
__m512i LoadIdx(const WordIdx& i) { return _mm512_load_si512(i.v); }

// One decoded step: lo (and hi for 128-value steps) are the unsigned weights; scale and
// min are the per-lane block scale and (Q4_1) block minimum.
struct StepWeights {
  __m512i lo, hi;
  __m512 scale, min;
};

__m512 HalvesAt(const WordIdx& idx, __m512i words) {
  return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(LoadIdx(idx), words)));
}

// ---- step-scaled formats ----

// Bytes [off, n) of p as a zero-padded vector of p[off .. off+64).
__m512i LoadUpTo(const u8* p, int off, int n) {
  const int k = n - off >= 64 ? 64 : (n - off <= 0 ? 0 : n - off);
  return _mm512_maskz_loadu_epi8(k == 64 ? ~0ull : (1ull << k) - 1, p + off);
}

// Q8_0: 4 blocks (136 bytes) per 128-value step in the split layout, 4 lanes per block.
// Values 0..15 of the blocks come from bytes [0, 128), values 16..31 from the same
// positions 16 bytes on, so one index vector serves both 16-bit permutes.
struct Q8_0Format {
  static constexpr int kStep = 128, kGroupBytes = 16 * 34, kBiasShift = 7;
  static constexpr bool kSplit = true, kHasMin = false;
  static constexpr WordIdx kQs = [] {  // block k values 0..15: words 17k+1 .. 17k+8
    WordIdx r{};
    for (int m = 0; m < 32; ++m) r.v[m] = static_cast<uint16_t>(17 * (m / 8) + 1 + m % 8);
    return r;
  }();
  static constexpr WordIdx kScale = [] {  // d of block k: word 17k, to halves 4k..4k+3
    WordIdx r{};
    for (int h = 0; h < 16; ++h) r.v[h] = static_cast<uint16_t>(17 * (h / 4));
    return r;
  }();
  static void Load(const u8* g, int step, int valid, StepWeights& w) {
    const u8* b = g + 136 * step;
    __m512i l0, l1, h0, h1;
    if (valid == 128) {
      l0 = _mm512_loadu_si512(b);
      l1 = _mm512_loadu_si512(b + 64);
      h0 = _mm512_loadu_si512(b + 16);
      h1 = _mm512_maskz_loadu_epi8((1ull << 56) - 1, b + 80);  // the step ends at byte 136
    } else {
      const int n = 34 * (valid / 32);
      l0 = LoadUpTo(b, 0, n);
      l1 = LoadUpTo(b, 64, n);
      h0 = LoadUpTo(b, 16, n);
      h1 = LoadUpTo(b, 80, n);
    }
    const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));  // q + 128: unsigned for vpdpbusd
    w.lo = _mm512_xor_si512(_mm512_permutex2var_epi16(l0, LoadIdx(kQs), l1), sign);
    w.hi = _mm512_xor_si512(_mm512_permutex2var_epi16(h0, LoadIdx(kQs), h1), sign);
    w.scale = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(l0, LoadIdx(kScale), l1)));
  }
  static __m512i Dot(const StepWeights& w, const int8_t* xs, __m512i bias) {
    const __m512i d = _mm512_dpbusd_epi32(bias, w.lo, _mm512_load_si512(xs));
    return _mm512_dpbusd_epi32(d, w.hi, _mm512_load_si512(xs + 64));
  }
};

// Q4_0 / Q4_1: 4 blocks per 128-value step. One 16-bit permute gathers their nibble arrays
// into [qs0, qs1, qs2, qs3]; low nibbles are values 0..15 of each block and high nibbles
// 16..31, so the activations use the split layout and lanes 4k..4k+3 hold block k.
template <int kStride, int kQsOffset, bool kMin>
struct NibbleFormat {
  static constexpr int kStep = 128, kGroupBytes = 16 * kStride, kBiasShift = kMin ? -1 : 3;
  static constexpr bool kSplit = true, kHasMin = kMin;
  static constexpr WordIdx kQs = [] {
    WordIdx r{};
    for (int m = 0; m < 32; ++m) r.v[m] = static_cast<uint16_t>(kStride / 2 * (m / 8) + kQsOffset / 2 + m % 8);
    return r;
  }();
  static constexpr WordIdx kScale = [] {
    WordIdx r{};
    for (int h = 0; h < 16; ++h) r.v[h] = static_cast<uint16_t>(kStride / 2 * (h / 4));
    return r;
  }();
  static constexpr WordIdx kMinIdx = [] {
    WordIdx r{};
    for (int h = 0; h < 16; ++h) r.v[h] = static_cast<uint16_t>(kStride / 2 * (h / 4) + 1);
    return r;
  }();
  static void Load(const u8* g, int step, int valid, StepWeights& w) {
    const u8* b = g + 4 * kStride * step;
    __m512i a, c;
    if (valid == 128) {
      a = _mm512_loadu_si512(b);
      c = _mm512_castsi128_si512(kStride == 18 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 64))
                                               : Load128(b + 64));
    } else {  // 1..3 blocks: at most 60 bytes
      a = _mm512_maskz_loadu_epi8((~0ull) >> (64 - kStride * (valid / 32)), b);
      c = _mm512_setzero_si512();
    }
    const __m512i qs = _mm512_permutex2var_epi16(a, LoadIdx(kQs), c);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    w.lo = _mm512_and_si512(qs, m4);
    w.hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), m4);
    w.scale = HalvesAt(kScale, a);
    if constexpr (kMin) w.min = HalvesAt(kMinIdx, a);
  }
  static __m512i Dot(const StepWeights& w, const int8_t* xs, __m512i bias) {
    const __m512i d = _mm512_dpbusd_epi32(bias, w.lo, _mm512_load_si512(xs));
    return _mm512_dpbusd_epi32(d, w.hi, _mm512_load_si512(xs + 64));
  }
};

using Q4_0Format = NibbleFormat<18, 2, false>;  // w = d * (q - 8)
using Q4_1Format = NibbleFormat<20, 4, true>;   // w = d * q + m

// ---- group-scaled formats (K-quants) ----
// Scales(g, n_units, s, o): unit scales and offsets of a group (zero beyond n_units).
// Load(g, step): the 64 unsigned values of a step (natural layout, 8 lanes per 32 values).

struct KStep {
  static constexpr int kStep = 64;
  static constexpr bool kSplit = false;
  static const int32_t* BlockLanes(int step) { return kExpand32[step]; }
  // start + the step's int32 dot products.
  static __m512i Dot(__m512i start, __m512i w, const int8_t* xs) {
    return _mm512_dpbusd_epi32(start, w, _mm512_load_si512(xs));
  }
};

// Scales and offsets of a Q4_K/Q5_K group: two super-blocks of `kSuper` bytes (the second
// absent when n_units == 8). The first 16 bytes of a super-block are the dwords
// [d | dmin << 16, u0, u1, u2] where u0..u2 pack 8 six-bit scales sc and mins m:
//   sc[0..3] = u0 & 63, m[0..3] = u1 & 63 (per byte),
//   sc[4..7] = (u2 & 15) | (u0 >> 6) << 4, m[4..7] = (u2 >> 4) | (u1 >> 6) << 4.
// Both super-blocks are unpacked at once, one per 128-bit lane.
template <int kSuper>
void KScales(const u8* g, int n_units, __m512& s, __m512& o) {
  const __m128i a = Load128(g);
  const __m128i b = n_units == 16 ? Load128(g + kSuper) : _mm_setzero_si128();
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);  // [dd, u0, u1, u2] x 2
  const __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(0x3f3f3f3f));      // dword 1: sc[0..3], 2: m[0..3]
  const __m256i u2 = _mm256_shuffle_epi32(v, 0xFF);
  const __m256i hi = _mm256_or_si256(
      _mm256_and_si256(_mm256_srlv_epi32(u2, _mm256_set_epi32(0, 4, 0, 0, 0, 4, 0, 0)), _mm256_set1_epi32(0x0f0f0f0f)),
      _mm256_and_si256(_mm256_srli_epi32(v, 2), _mm256_set1_epi32(0x30303030)));  // dword 1: sc[4..7], 2: m[4..7]
  // [sc[0..7], m[0..7]] per lane, then [sc of both, m of both].
  const __m256i scm = _mm256_alignr_epi8(_mm256_unpackhi_epi32(lo, hi), _mm256_unpacklo_epi32(lo, hi), 8);
  const __m256i both = _mm256_permute4x64_epi64(scm, 0xD8);
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(both)));
  const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(both, 1)));
  // d of super-block i (word 0 of lane i) to lanes 8i..8i+7; dmin (word 1) likewise.
  const __m512i words = _mm512_castsi256_si512(v);
  const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(
      _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0), words)));
  const __m512 dmin = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(
      _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 1, 1, 1, 1, 1, 1, 1, 1), words)));
  s = _mm512_mul_ps(d, sc);
  const __m512 m = _mm512_mul_ps(dmin, mn);
  o = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(m), _mm512_set1_epi32(INT32_MIN)));  // -m
}

// Low 4 bits of step p of a Q4_K/Q5_K group: chunk p % 4 of super-block p / 4.
template <int kSuper, int kQsOffset>
__m512i KNibbles(const u8* g, int p) {
  const __m512i v = _mm512_broadcast_i64x4(Load256(g + (p >> 2) * kSuper + kQsOffset + 32 * (p & 3)));
  return _mm512_and_si512(_mm512_srlv_epi16(v, Shift256(0, 4)), _mm512_set1_epi8(0x0F));
}

struct Q4_KFormat : KStep {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 2 * 144;
  static const int32_t* UnitLanes(int step) { return kExpand32[step]; }
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) { KScales<144>(g, n_units, s, o); }
  static __m512i Load(const u8* g, int p) { return KNibbles<144, 16>(g, p); }
};

struct Q5_KFormat : KStep {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 2 * 176;
  static const int32_t* UnitLanes(int step) { return kExpand32[step]; }
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) { KScales<176>(g, n_units, s, o); }
  static __m512i Load(const u8* g, int p) {
    const __m512i lo = KNibbles<176, 48>(g, p);
    const int c = p & 3;
    const __m512i qh = _mm512_broadcast_i64x4(Load256(g + (p >> 2) * 176 + 16));
    const __m512i bits = _mm512_srlv_epi16(qh, Shift256(2 * c, 2 * c + 1));
    const __mmask64 k = _mm512_test_epi8_mask(bits, _mm512_set1_epi8(1));
    return _mm512_mask_add_epi8(lo, k, lo, _mm512_set1_epi8(16));
  }
};

struct Q6_KFormat : KStep {
  static constexpr int kUnit = 16, kGroup = 256, kGroupBytes = 210;
  static const int32_t* UnitLanes(int step) { return kExpand16[step]; }
  static void Scales(const u8* g, int, __m512& s, __m512& o) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(Load16(g + 208)));
    s = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load128(g + 192))));
    o = _mm512_mul_ps(s, _mm512_set1_ps(-32.f));
  }
  static __m512i Load(const u8* g, int p) {
    const int n = p >> 1;
    const __m512i ql = _mm512_loadu_si512(g + 64 * n);
    const __m512i qh = _mm512_broadcast_i64x4(Load256(g + 128 + 32 * n));
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    if ((p & 1) == 0) {
      return _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, Shift256(4, 2)), m30));
    }
    return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                           _mm512_and_si512(_mm512_srlv_epi16(qh, Shift256(0, 2)), m30));
  }
};

}  // namespace
}  // namespace flashstream::cpu::avx512
