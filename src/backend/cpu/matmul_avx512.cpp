// AVX-512 (F/BW/VL/DQ/VNNI + F16C) matmul kernels: y[n_tok, n_out] = x[n_tok, n_in] · w[n_out, n_in]^T.
//
// Quantized weights. The activations are quantized once per call to int8 per 32 values
// (ref::QuantizeActivations). Each weight format is decoded in registers, 64 values (a
// "pair" of 32-value blocks) at a time, into unsigned bytes u with w = s * u + o for every
// "unit" of 32 values (16 for Q6_K). vpdpbusd (u8 x s8) forms exact int32 partial dot
// products, 4 per lane; they are converted to f32 and multiplied by s * dx per lane. The
// offset term o * dx * sum(q) is added once per group of 16 units. A register tile of R
// rows x T tokens reuses each decoded weight pair T times and each activation load R times.
//
// Float weights (F32/F16/BF16) are converted exactly to f32 and multiplied with f32 FMA.
// BF16 does not use vdpbf16ps: that would round the activations to bf16.
//
// Determinism: every y[t, r] is computed by the same instruction sequence whatever the
// tile shape and row range, so results are bitwise independent of thread count and tiling.
// This file is compiled with AVX-512 flags; it runs only after the CPU check. It uses no
// inline functions from shared headers beyond trivial accessors (one-definition safety).
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 implements _mm512_undefined_*() by self-initialization, which -Wuninitialized
// reports wherever an intrinsic using it is inlined; these are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace flashstream::cpu::avx512 {
namespace {

using u8 = uint8_t;

int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t Max64(int64_t a, int64_t b) { return a > b ? a : b; }

uint32_t Load32(const u8* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t Load16(const u8* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
__m256i Load256(const u8* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
__m128i Load128(const u8* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// es = permutexvar(kExpand32[p], S): the scale of the 32-value unit of each int32 lane of pair p.
alignas(64) constexpr int32_t kExpand32[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},         {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},         {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},         {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13}, {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};
// The same for 16-value units (Q6_K): 4 lanes per unit.
alignas(64) constexpr int32_t kExpand16[4][16] = {
    {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
    {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15},
};

__m512i LoadIdx(const int32_t* p) { return _mm512_load_si512(p); }

// 16-bit lane shift counts: per 128-bit lane 0,4,0,4 (nibbles of two 16-byte blocks) and
// per 256-bit half 0,4 (nibbles of one 32-byte chunk); 0,1 / 4,2 / 0,2 for the high bits.
__m512i Shift128(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(b)),
                                                                    _mm_set1_epi16(static_cast<short>(a)))),
                            _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(b)), _mm_set1_epi16(static_cast<short>(a))), 1);
}
__m512i Shift256(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(a))),
                            _mm256_set1_epi16(static_cast<short>(b)), 1);
}

__m512i GatherOffsets(int stride) {
  return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                            _mm512_set1_epi32(stride));
}

// The 16 dwords at g + stride * i (i < n; zero beyond n).
__m512i GatherDwords(const u8* g, int stride, int n) {
  const __m512i off = GatherOffsets(stride);
  if (n == 16) return _mm512_i32gather_epi32(off, g, 1);
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, g, 1);
}

__m512 HalvesToFloat(__m512i dwords_low16) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dwords_low16)); }

// ---- weight formats. Scales(g, n_units, S, O): unit scales/offsets of a group (0 beyond
// n_units). Pair(g, p, half): the 64 unsigned values of pair p; half: only the first 32 exist.

struct Q8_0Format {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 16 * 34, kPairs = 8;
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) {
    s = HalvesToFloat(GatherDwords(g, 34, n_units));
    o = _mm512_mul_ps(s, _mm512_set1_ps(-128.f));
  }
  static __m512i Pair(const u8* g, int p, bool half) {
    const u8* b = g + 68 * p;
    const __m256i hi = half ? _mm256_setzero_si256() : Load256(b + 36);
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(Load256(b + 2)), hi, 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));  // q + 128
  }
};

template <int kStride, int kQsOffset>
__m512i NibblePair(const u8* g, int p, bool half) {
  const u8* b = g + 2 * kStride * p;
  const __m256i a = _mm256_broadcastsi128_si256(Load128(b + kQsOffset));
  const __m256i c = half ? _mm256_setzero_si256() : _mm256_broadcastsi128_si256(Load128(b + kStride + kQsOffset));
  const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1);  // [a, a, c, c]
  return _mm512_and_si512(_mm512_srlv_epi16(v, Shift128(0, 4)), _mm512_set1_epi8(0x0F));
}

struct Q4_0Format {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 16 * 18, kPairs = 8;
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) {
    s = HalvesToFloat(GatherDwords(g, 18, n_units));
    o = _mm512_mul_ps(s, _mm512_set1_ps(-8.f));
  }
  static __m512i Pair(const u8* g, int p, bool half) { return NibblePair<18, 2>(g, p, half); }
};

struct Q4_1Format {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 16 * 20, kPairs = 8;
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) {
    const __m512i dm = GatherDwords(g, 20, n_units);
    s = HalvesToFloat(dm);
    o = HalvesToFloat(_mm512_srli_epi32(dm, 16));
  }
  static __m512i Pair(const u8* g, int p, bool half) { return NibblePair<20, 4>(g, p, half); }
};

// Q4_K/Q5_K 6-bit scales and mins of one super-block, as 8 bytes each.
void UnpackK4Scales(const u8* scales, uint64_t* sc, uint64_t* mn) {
  const uint32_t u0 = Load32(scales), u1 = Load32(scales + 4), u2 = Load32(scales + 8);
  const uint32_t sc_lo = u0 & 0x3f3f3f3fu, mn_lo = u1 & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
  *sc = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *mn = mn_lo | (static_cast<uint64_t>(mn_hi) << 32);
}

// A group is two super-blocks of `kSuper` bytes (the second absent when n_units == 8).
template <int kSuper>
void KScales(const u8* g, int n_units, __m512& s, __m512& o) {
  uint64_t sc[2] = {0, 0}, mn[2] = {0, 0};
  uint32_t dd[2] = {0, 0};
  for (int i = 0; i < n_units / 8; ++i) {
    UnpackK4Scales(g + i * kSuper + 4, &sc[i], &mn[i]);
    dd[i] = Load32(g + i * kSuper);  // d | dmin << 16
  }
  const __m512 dv = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_set_epi32(0, 0, static_cast<int>(dd[1]), static_cast<int>(dd[0]))));
  // dv = [d0, dmin0, d1, dmin1]: lanes 0..7 take super-block 0, lanes 8..15 super-block 1.
  const __m512 d = _mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), dv);
  const __m512 dmin = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), dv);
  const __m128i scv = _mm_set_epi64x(static_cast<long long>(sc[1]), static_cast<long long>(sc[0]));
  const __m128i mnv = _mm_set_epi64x(static_cast<long long>(mn[1]), static_cast<long long>(mn[0]));
  s = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(scv)));
  const __m512 m = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mnv)));
  o = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(m), _mm512_set1_epi32(INT32_MIN)));  // -m
}

// Low 4 bits of pair p of a Q4_K/Q5_K group: chunk p % 4 of super-block p / 4.
template <int kSuper, int kQsOffset>
__m512i KNibbles(const u8* g, int p) {
  const __m512i v = _mm512_broadcast_i64x4(Load256(g + (p >> 2) * kSuper + kQsOffset + 32 * (p & 3)));
  return _mm512_and_si512(_mm512_srlv_epi16(v, Shift256(0, 4)), _mm512_set1_epi8(0x0F));
}

struct Q4_KFormat {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 2 * 144, kPairs = 8;
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) { KScales<144>(g, n_units, s, o); }
  static __m512i Pair(const u8* g, int p, bool) { return KNibbles<144, 16>(g, p); }
};

struct Q5_KFormat {
  static constexpr int kUnit = 32, kGroup = 512, kGroupBytes = 2 * 176, kPairs = 8;
  static void Scales(const u8* g, int n_units, __m512& s, __m512& o) { KScales<176>(g, n_units, s, o); }
  static __m512i Pair(const u8* g, int p, bool) {
    const __m512i lo = KNibbles<176, 48>(g, p);
    const int c = p & 3;
    const __m512i qh = _mm512_broadcast_i64x4(Load256(g + (p >> 2) * 176 + 16));
    const __m512i bits = _mm512_srlv_epi16(qh, Shift256(2 * c, 2 * c + 1));
    const __mmask64 k = _mm512_test_epi8_mask(bits, _mm512_set1_epi8(1));
    return _mm512_mask_add_epi8(lo, k, lo, _mm512_set1_epi8(16));
  }
};

struct Q6_KFormat {
  static constexpr int kUnit = 16, kGroup = 256, kGroupBytes = 210, kPairs = 4;
  static void Scales(const u8* g, int, __m512& s, __m512& o) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(Load16(g + 208)));
    s = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load128(g + 192))));
    o = _mm512_mul_ps(s, _mm512_set1_ps(-32.f));
  }
  static __m512i Pair(const u8* g, int p, bool) {
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

// ---- quantized tiles ----

template <class F, int R, int T>
struct QTile {
  const u8* gp[R];
  __m512 acc[R][T];

  // One pair step: decode R weight pairs, multiply with T activation pairs.
  void Step(const QuantizedActs& xq, int64_t t0, int64_t v0, int p, bool half, const __m512 (&s)[R]) {
    const __m512i idx = LoadIdx(F::kUnit == 32 ? kExpand32[p] : kExpand16[p]);
    __m512i w[R];
    __m512 es[R];
    for (int r = 0; r < R; ++r) {
      w[r] = F::Pair(gp[r], p, half);
      es[r] = _mm512_permutexvar_ps(idx, s[r]);
    }
    for (int t = 0; t < T; ++t) {
      const __m512i xv = _mm512_load_si512(xq.q_row(t0 + t) + v0 + 64 * p);
      const __m512 ed = _mm512_load_ps(xq.edx_row(t0 + t) + (v0 + 64 * p) / 4);
      for (int r = 0; r < R; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[r], xv);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(es[r], ed), acc[r][t]);
      }
    }
  }

  void Run(const u8* const* rows, const QuantizedActs& xq, int64_t t0, int64_t n_in) {
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    const int64_t n_groups = (n_in + F::kGroup - 1) / F::kGroup;
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t v0 = g * F::kGroup;
      const int nv = static_cast<int>(Min64(F::kGroup, n_in - v0));
      __m512 s[R], o[R];
      for (int r = 0; r < R; ++r) {
        gp[r] = rows[r] + g * F::kGroupBytes;
        F::Scales(gp[r], nv / F::kUnit, s[r], o[r]);
      }
      for (int t = 0; t < T; ++t) {
        const float* cx = F::kUnit == 32 ? xq.cx32_row(t0 + t) : xq.cx16_row(t0 + t);
        const __m512 c = _mm512_load_ps(cx + v0 / F::kUnit);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(o[r], c, acc[r][t]);
      }
      if (nv == F::kGroup) {
#pragma GCC unroll 8
        for (int p = 0; p < F::kPairs; ++p) Step(xq, t0, v0, p, false, s);
      } else {
        for (int p = 0; p < (nv + 63) / 64; ++p) Step(xq, t0, v0, p, 64 * p + 32 >= nv, s);
      }
    }
  }
};

template <class F, int R, int T>
void RunQTile(const u8* const* rows, const QuantizedActs& xq, int64_t t0, int64_t n_in, float* y, int64_t n_out,
              int64_t r0) {
  QTile<F, R, T> tile;
  tile.Run(rows, xq, t0, n_in);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[(t0 + t) * n_out + r0 + r] = _mm512_reduce_add_ps(tile.acc[r][t]);
}

// ---- float tiles ----

template <DType D>
__m512 LoadW(const u8* row, int64_t k) {
  if constexpr (D == DType::kF32) return _mm512_loadu_ps(row + 4 * k);
  const __m256i h = Load256(row + 2 * k);
  if constexpr (D == DType::kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <DType D>
__m512 LoadWMasked(const u8* row, int64_t k, __mmask16 m) {
  if constexpr (D == DType::kF32) return _mm512_maskz_loadu_ps(m, row + 4 * k);
  const __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * k);
  if constexpr (D == DType::kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <DType D, int R, int T>
void RunFTile(const u8* const* rows, const float* x, int64_t t0, int64_t n_in, float* y, int64_t n_out, int64_t r0) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  const float* xt = x + t0 * n_in;
  int64_t k = 0;
  for (; k + 16 <= n_in; k += 16) {
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = LoadW<D>(rows[r], k);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(xt + t * n_in + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
    }
  }
  if (k < n_in) {
    const auto m = static_cast<__mmask16>((1u << (n_in - k)) - 1u);
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = LoadWMasked<D>(rows[r], k, m);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, xt + t * n_in + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[(t0 + t) * n_out + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// ---- drivers: panels of rows that stay in L2, swept by tiles of 4 tokens x 4 rows ----

constexpr int64_t kPanelBytes = 256 * 1024;
constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;

using TileFn = void (*)(const u8* const* rows, const void* x, int64_t t0, int64_t n_in, float* y, int64_t n_out,
                        int64_t r0);

template <class F, int R, int T>
void QTileFn(const u8* const* rows, const void* x, int64_t t0, int64_t n_in, float* y, int64_t n_out, int64_t r0) {
  RunQTile<F, R, T>(rows, *static_cast<const QuantizedActs*>(x), t0, n_in, y, n_out, r0);
}
template <DType D, int R, int T>
void FTileFn(const u8* const* rows, const void* x, int64_t t0, int64_t n_in, float* y, int64_t n_out, int64_t r0) {
  RunFTile<D, R, T>(rows, static_cast<const float*>(x), t0, n_in, y, n_out, r0);
}

// table[r][t]: the tile of r+1 rows (only 1 and kTileRows are used) and t+1 tokens.
struct TileTable {
  TileFn fn[2][kTileTokens];
};

template <class F>
constexpr TileTable QTiles() {
  return {{{QTileFn<F, 1, 1>, QTileFn<F, 1, 2>, QTileFn<F, 1, 3>, QTileFn<F, 1, 4>},
           {QTileFn<F, 4, 1>, QTileFn<F, 4, 2>, QTileFn<F, 4, 3>, QTileFn<F, 4, 4>}}};
}
template <DType D>
constexpr TileTable FTiles() {
  return {{{FTileFn<D, 1, 1>, FTileFn<D, 1, 2>, FTileFn<D, 1, 3>, FTileFn<D, 1, 4>},
           {FTileFn<D, 4, 1>, FTileFn<D, 4, 2>, FTileFn<D, 4, 3>, FTileFn<D, 4, 4>}}};
}

void Sweep(const TileTable& tiles, const MatMulArgs& a, const void* x) {
  const int64_t row_bytes = static_cast<int64_t>(RowBytes(a.dtype, a.n_in));
  const int64_t panel = Max64(kTileRows, kPanelBytes / row_bytes / kTileRows * kTileRows);
  for (int64_t p0 = a.row_begin; p0 < a.row_end; p0 += panel) {
    const int64_t p1 = Min64(a.row_end, p0 + panel);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += kTileTokens) {
      const int nt = static_cast<int>(Min64(kTileTokens, a.n_tok - t0));
      for (int64_t r = p0; r < p1;) {
        const int nr = p1 - r >= kTileRows ? kTileRows : 1;
        const u8* rows[kTileRows];
        for (int i = 0; i < nr; ++i) rows[i] = reinterpret_cast<const u8*>(a.w) + (r + i) * row_bytes;
        tiles.fn[nr == kTileRows ? 1 : 0][nt - 1](rows, x, t0, a.n_in, a.y, a.n_out, r);
        r += nr;
      }
    }
  }
}

constexpr TileTable kQ8_0Tiles = QTiles<Q8_0Format>();
constexpr TileTable kQ4_0Tiles = QTiles<Q4_0Format>();
constexpr TileTable kQ4_1Tiles = QTiles<Q4_1Format>();
constexpr TileTable kQ4_KTiles = QTiles<Q4_KFormat>();
constexpr TileTable kQ5_KTiles = QTiles<Q5_KFormat>();
constexpr TileTable kQ6_KTiles = QTiles<Q6_KFormat>();
constexpr TileTable kF32Tiles = FTiles<DType::kF32>();
constexpr TileTable kF16Tiles = FTiles<DType::kF16>();
constexpr TileTable kBF16Tiles = FTiles<DType::kBF16>();

}  // namespace

void QuantizeActs(const float* x, const QuantizedActs& xq, int64_t t_begin, int64_t t_end) {
  const int64_t nb = xq.n_pad / 32;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* xt = x + t * xq.n_in;
    int8_t* q = xq.q + t * xq.n_pad;
    float* d = xq.d + t * nb;
    float* edx = xq.edx + t * (xq.n_pad / 4);
    float* cx32 = xq.cx32 + t * nb;
    float* cx16 = xq.cx16 + t * 2 * nb;
    for (int64_t b = 0; b < nb; ++b) {
      float scale = 0.f;
      int sum0 = 0, sum1 = 0;
      if (b * 32 < xq.n_in) {
        const __m512 x0 = _mm512_loadu_ps(xt + 32 * b), x1 = _mm512_loadu_ps(xt + 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, abs_mask), _mm512_and_ps(x1, abs_mask)));
        scale = amax / 127.f;
        const __m512 inv = _mm512_set1_ps(scale != 0.f ? 1.f / scale : 0.f);
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, inv));  // round half even (MXCSR default)
        const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, inv));
        _mm_store_si128(reinterpret_cast<__m128i*>(q + 32 * b), _mm512_cvtepi32_epi8(q0));
        _mm_store_si128(reinterpret_cast<__m128i*>(q + 32 * b + 16), _mm512_cvtepi32_epi8(q1));
        sum0 = _mm512_reduce_add_epi32(q0);
        sum1 = _mm512_reduce_add_epi32(q1);
      } else {
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + 32 * b), _mm256_setzero_si256());
      }
      d[b] = scale;
      _mm256_store_ps(edx + 8 * b, _mm256_set1_ps(scale));
      cx32[b] = scale * static_cast<float>(sum0 + sum1);
      cx16[2 * b] = scale * static_cast<float>(sum0);
      cx16[2 * b + 1] = scale * static_cast<float>(sum1);
    }
  }
}

void MatMul(const MatMulArgs& a) {
  switch (a.dtype) {
    case DType::kQ8_0: return Sweep(kQ8_0Tiles, a, a.xq);
    case DType::kQ4_0: return Sweep(kQ4_0Tiles, a, a.xq);
    case DType::kQ4_1: return Sweep(kQ4_1Tiles, a, a.xq);
    case DType::kQ4_K: return Sweep(kQ4_KTiles, a, a.xq);
    case DType::kQ5_K: return Sweep(kQ5_KTiles, a, a.xq);
    case DType::kQ6_K: return Sweep(kQ6_KTiles, a, a.xq);
    case DType::kF32: return Sweep(kF32Tiles, a, a.x);
    case DType::kF16: return Sweep(kF16Tiles, a, a.x);
    case DType::kBF16: return Sweep(kBF16Tiles, a, a.x);
    default: return;
  }
}

}  // namespace flashstream::cpu::avx512
