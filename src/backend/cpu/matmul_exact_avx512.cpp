// AVX-512 exact matmul for Q8_0, Q5_0, Q4_K, Q5_K and Q6_K in the dequantizing operation order of
// matmul_exact.h (Q4_0 and Q4_1: matmul_exact_q4_avx512.cpp), and the dispatch.
//
// Weights are dequantized in registers 32 values (a "unit") at a time into two f32 vectors
// equal to DequantizeRow's values. Q4_K builds each unit's 16 possible values once
// (table[k] = s*k + o, one FMA) and looks the nibbles up with vpermps, which reads only an
// index's low 4 bits, so a zero-extended byte indexes by its low nibble directly. Q5_K does
// the same with a 32-entry table (vpermt2ps). Q8_0, Q5_0 and Q6_K convert integers and scale.
//  decode  (n_tok < kMinPanelTokens): a register tile of up to 4 rows x 3 tokens; each
//          decoded unit is used for every token of the tile.
//  batched: a panel of rows (ExactPanelRows) is dequantized once into the caller's scratch,
//           then swept by f32 tiles of 4 rows x 6 tokens.
// Both accumulate w[16k + l] * x[16k + l] into lane l with one FMA per k in increasing k,
// so they agree bit for bit.
#include "backend/cpu/matmul_exact_avx512.h"
#include "backend/cpu/avx512_intrinsics.h"

#include <cstring>

#include "backend/cpu/matmul_exact.h"

namespace flashstream::cpu::avx512 {
namespace {

constexpr int kPanelTokens = 6;

uint16_t Load16(const u8* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t Load32(const u8* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- formats ----
// A format reads a row in groups of kGroupUnits units (32 values each; kGroupBytes bytes,
// the last group of a row may be shorter): Prepare(group, n_units, state) unpacks the
// group's scales into a per-row State, then Unit(group, state, j, w0, w1) gives values
// [32j, 32j + 32) of the group.

// Q8_0: w = d * q, 16 blocks per group.
struct Q8_0 {
  static constexpr int kBlockBytes = 34, kGroupUnits = 16, kGroupBytes = kGroupUnits * kBlockBytes;
  struct State {
    alignas(64) float d[16];
  };
  static void Prepare(const u8* g, int n_units, State& st) {
    _mm512_store_ps(st.d, _mm512_cvtph_ps(_mm512_castsi512_si256(GatherScaleWords<kBlockBytes, false>(g, n_units))));
  }
  static void Unit(const u8* g, const State& st, int j, __m512& w0, __m512& w1) {
    const u8* b = g + j * kBlockBytes;
    const __m512 d = _mm512_set1_ps(st.d[j]);
    w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load128(b + 2))), d);
    w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load128(b + 18))), d);
  }
};

// Q5_0: w = d * (q - 16), q = low 4 bits from qs | bit 4 from the block's 32-bit qh; one unit
// per 22-byte block, 16 blocks per group. Every value is exact in f32 (an f16 times a 5-bit
// integer), so this equals DequantizeRow.
struct Q5_0 {
  static constexpr int kBlockBytes = 22, kGroupUnits = 16, kGroupBytes = kGroupUnits * kBlockBytes;
  struct State {
    alignas(64) float d[16];
  };
  static void Prepare(const u8* g, int n_units, State& st) {
    _mm512_store_ps(st.d, _mm512_cvtph_ps(_mm512_castsi512_si256(GatherScaleWords<kBlockBytes, false>(g, n_units))));
  }
  // Values l (w0) and 16 + l (w1): nibbles of qs[l] (offset 6), bits l and 16 + l of qh (offset 2).
  static void Unit(const u8* g, const State& st, int j, __m512& w0, __m512& w1) {
    const u8* b = g + j * kBlockBytes;
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i qh = _mm512_set1_epi32(static_cast<int>(Load32(b + 2)));
    const __m512i bit4 = _mm512_set1_epi32(0x10);
    const __m512i h0 = _mm512_and_si512(_mm512_slli_epi32(_mm512_srlv_epi32(qh, lane), 4), bit4);
    const __m512i h1 =
        _mm512_and_si512(_mm512_slli_epi32(_mm512_srlv_epi32(qh, _mm512_add_epi32(lane, _mm512_set1_epi32(16))), 4), bit4);
    const __m512i qs = Bytes16(b + 6);
    const __m512i sixteen = _mm512_set1_epi32(16);
    const __m512i q0 = _mm512_sub_epi32(_mm512_or_si512(_mm512_and_si512(qs, _mm512_set1_epi32(0x0F)), h0), sixteen);
    const __m512i q1 = _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(qs, 4), h1), sixteen);
    const __m512 d = _mm512_set1_ps(st.d[j]);
    w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d);
    w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d);
  }
};

// Q4_K / Q5_K: 8 units per super-block with w = s_j * q + o_j, s_j = d * sc_j and
// o_j = -(dmin * m_j) (6-bit sc_j, m_j packed in 12 bytes at offset 4).
struct KScales {
  alignas(32) float s[8];
  alignas(32) float o[8];
  void Unpack(const u8* b) {
    const uint32_t u0 = Load32(b + 4), u1 = Load32(b + 8), u2 = Load32(b + 12);
    const uint64_t sc = (u0 & 0x3f3f3f3fu) | static_cast<uint64_t>((u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u)) << 32;
    const uint64_t mn = (u1 & 0x3f3f3f3fu) | static_cast<uint64_t>(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u))
                                                  << 32;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(Load16(b)));
    const __m256 neg_dmin = _mm256_set1_ps(-_cvtsh_ss(Load16(b + 2)));
    const auto to_float = [](uint64_t v) {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(v))));
    };
    _mm256_store_ps(s, _mm256_mul_ps(d, to_float(sc)));
    _mm256_store_ps(o, _mm256_mul_ps(neg_dmin, to_float(mn)));
  }
};

struct Q4_K {
  static constexpr int kGroupUnits = 8, kGroupBytes = 144;
  using State = KScales;
  static void Prepare(const u8* b, int, State& st) { st.Unpack(b); }
  // Unit j: low (j even) or high (j odd) nibbles of qs[32 (j/2) ..] at offset 16.
  static void Unit(const u8* b, const State& st, int j, __m512& w0, __m512& w1) {
    const __m512 table = _mm512_fmadd_ps(Iota(0.f, 1.f), _mm512_set1_ps(st.s[j]), _mm512_set1_ps(st.o[j]));
    const u8* qs = b + 16 + 32 * (j >> 1);
    const int shift = 4 * (j & 1);
    w0 = _mm512_permutexvar_ps(_mm512_srli_epi32(Bytes16(qs), shift), table);
    w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(Bytes16(qs + 16), shift), table);
  }
};

struct Q5_K {
  static constexpr int kGroupUnits = 8, kGroupBytes = 176;
  struct State : KScales {
    alignas(64) int32_t h[2][16];  // qh bytes 0..15 and 16..31, shifted left by 4
  };
  static void Prepare(const u8* b, int, State& st) {
    st.Unpack(b);
    _mm512_store_si512(st.h[0], _mm512_slli_epi32(Bytes16(b + 16), 4));
    _mm512_store_si512(st.h[1], _mm512_slli_epi32(Bytes16(b + 32), 4));
  }
  // Unit j: nibbles as Q4_K (qs at offset 48) plus 16 * bit j of qh[l]; the index's bit 4
  // comes from qh, bits 0..3 from qs (vpermt2ps ignores bits 5 and up).
  static void Unit(const u8* b, const State& st, int j, __m512& w0, __m512& w1) {
    const __m512 s = _mm512_set1_ps(st.s[j]), o = _mm512_set1_ps(st.o[j]);
    const __m512 lo = _mm512_fmadd_ps(Iota(0.f, 1.f), s, o), hi = _mm512_fmadd_ps(Iota(16.f, 1.f), s, o);
    const u8* qs = b + 48 + 32 * (j >> 1);
    const int shift = 4 * (j & 1);
    const __m512i bit4 = _mm512_set1_epi32(0x10);
    const __m512i jv = _mm512_set1_epi32(j);
    // (h & 0x10) | (q & ~0x10): ternary-logic table 0xD8 with the mask as third operand.
    const __m512i i0 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(Bytes16(qs), shift),
                                                 _mm512_srlv_epi32(_mm512_load_si512(st.h[0]), jv), bit4, 0xD8);
    const __m512i i1 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(Bytes16(qs + 16), shift),
                                                 _mm512_srlv_epi32(_mm512_load_si512(st.h[1]), jv), bit4, 0xD8);
    w0 = _mm512_permutex2var_ps(lo, i0, hi);
    w1 = _mm512_permutex2var_ps(lo, i1, hi);
  }
};

// Q6_K: w = s_g * (u - 32) per 16 values, s_g = d * scales[g]; u = 4 bits of ql | 2 of qh.
struct Q6_K {
  static constexpr int kGroupUnits = 8, kGroupBytes = 210;
  struct State {
    alignas(64) float s[16];
    alignas(64) float o[16];       // -32 * s
    alignas(64) int32_t h[4][16];  // qh bytes 16i..16i+15, shifted left by 4
  };
  static void Prepare(const u8* b, int, State& st) {
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(Load16(b + 208))),
                                   _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(Load128(b + 192))));
    _mm512_store_ps(st.s, s);
    _mm512_store_ps(st.o, _mm512_mul_ps(s, _mm512_set1_ps(-32.f)));
    for (int i = 0; i < 4; ++i) _mm512_store_si512(st.h[i], _mm512_slli_epi32(Bytes16(b + 128 + 16 * i), 4));
  }
  // Unit j = 4 * half + g, values [32g, 32g + 32) of the half: nibble g/2 of ql[64 half +
  // 32 (g%2) + l] with bits 2g, 2g+1 of qh[32 half + l] as bits 4, 5; scales 2j and 2j+1.
  static void Unit(const u8* b, const State& st, int j, __m512& w0, __m512& w1) {
    const int half = j >> 2, g = j & 3;
    const u8* ql = b + 64 * half + 32 * (g & 1);
    const __m512i sh = _mm512_set1_epi32(2 * g);
    const __m512i m30 = _mm512_set1_epi32(0x30);
    const auto nib = [&](const u8* p) {
      const __m512i v = Bytes16(p);
      return g >= 2 ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, _mm512_set1_epi32(0x0F));
    };
    // q | (h & 0x30): ternary-logic table 0xF8 with the mask as third operand.
    const __m512i u0 = _mm512_ternarylogic_epi32(nib(ql), _mm512_srlv_epi32(_mm512_load_si512(st.h[2 * half]), sh), m30, 0xF8);
    const __m512i u1 =
        _mm512_ternarylogic_epi32(nib(ql + 16), _mm512_srlv_epi32(_mm512_load_si512(st.h[2 * half + 1]), sh), m30, 0xF8);
    w0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(u0), _mm512_set1_ps(st.s[2 * j]), _mm512_set1_ps(st.o[2 * j]));
    w1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(u1), _mm512_set1_ps(st.s[2 * j + 1]), _mm512_set1_ps(st.o[2 * j + 1]));
  }
};

// ---- decode: R rows x T tokens in registers ----

template <class F, int R, int T>
void DecodeTile(const u8* w, int64_t row_bytes, const float* x, int64_t n_in, float* y, int64_t n_out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  typename F::State st[R];
  const int64_t n_units = n_in / 32;
  for (int64_t u0 = 0; u0 < n_units; u0 += F::kGroupUnits) {
    const int nu = static_cast<int>(n_units - u0 < F::kGroupUnits ? n_units - u0 : F::kGroupUnits);
    const u8* g[R];
    for (int r = 0; r < R; ++r) {
      g[r] = w + r * row_bytes + u0 / F::kGroupUnits * F::kGroupBytes;
      PrefetchL2(g[r] + kPrefetchRows * row_bytes, F::kGroupBytes);
      F::Prepare(g[r], nu, st[r]);
    }
    const auto step = [&](int j) {
      __m512 w0[R], w1[R];
      for (int r = 0; r < R; ++r) F::Unit(g[r], st[r], j, w0[r], w1[r]);
      const float* xv = x + 32 * (u0 + j);
      for (int t = 0; t < T; ++t) {
        const __m512 x0 = _mm512_loadu_ps(xv + t * n_in), x1 = _mm512_loadu_ps(xv + t * n_in + 16);
        for (int r = 0; r < R; ++r) {
          acc[r][t] = _mm512_fmadd_ps(w0[r], x0, acc[r][t]);
          acc[r][t] = _mm512_fmadd_ps(w1[r], x1, acc[r][t]);
        }
      }
    };
    if (nu == F::kGroupUnits) {  // unrolled: unit offsets and shifts become constants
#pragma GCC unroll 16
      for (int j = 0; j < F::kGroupUnits; ++j) step(j);
    } else {
      for (int j = 0; j < nu; ++j) step(j);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * n_out + r] = ReduceLanes(acc[r][t]);
}

// ---- batched: dequantize a panel, then f32 tiles ----

template <class F>
void DequantizeRowF32(const u8* row, int64_t n_in, float* out) {
  typename F::State st;
  const int64_t n_units = n_in / 32;
  for (int64_t u0 = 0; u0 < n_units; u0 += F::kGroupUnits) {
    const int nu = static_cast<int>(n_units - u0 < F::kGroupUnits ? n_units - u0 : F::kGroupUnits);
    const u8* g = row + u0 / F::kGroupUnits * F::kGroupBytes;
    F::Prepare(g, nu, st);
    for (int j = 0; j < nu; ++j) {
      __m512 w0, w1;
      F::Unit(g, st, j, w0, w1);
      _mm512_store_ps(out + 32 * (u0 + j), w0);
      _mm512_store_ps(out + 32 * (u0 + j) + 16, w1);
    }
  }
}

// Rows of w and tokens of x are n_in floats apart (w 64-byte aligned).
template <int R, int T>
void PanelTile(const float* w, const float* x, int64_t n_in, float* y, int64_t n_out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n_in; k += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = _mm512_load_ps(w + r * n_in + k);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * n_in + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * n_out + r] = ReduceLanes(acc[r][t]);
}

// ---- drivers ----

using DecodeFn = void (*)(const u8* w, int64_t row_bytes, const float* x, int64_t n_in, float* y, int64_t n_out);
using PanelFn = void (*)(const float* w, const float* x, int64_t n_in, float* y, int64_t n_out);

// [0]: 1 row, [1]: kTileRows rows; then tokens 1..T.
template <class F>
struct DecodeTable {
  DecodeFn fn[2][kDecodeTokens] = {{DecodeTile<F, 1, 1>, DecodeTile<F, 1, 2>, DecodeTile<F, 1, 3>},
                                   {DecodeTile<F, 4, 1>, DecodeTile<F, 4, 2>, DecodeTile<F, 4, 3>}};
};
constexpr PanelFn kPanelTiles[2][kPanelTokens] = {
    {PanelTile<1, 1>, PanelTile<1, 2>, PanelTile<1, 3>, PanelTile<1, 4>, PanelTile<1, 5>, PanelTile<1, 6>},
    {PanelTile<4, 1>, PanelTile<4, 2>, PanelTile<4, 3>, PanelTile<4, 4>, PanelTile<4, 5>, PanelTile<4, 6>}};

template <class F>
void Run(const MatMulArgs& a, float* scratch) {
  const auto row_bytes = static_cast<int64_t>(RowBytes(a.dtype, a.n_in));
  const u8* w = reinterpret_cast<const u8*>(a.w);
  if (a.n_tok < kMinPanelTokens) {
    static constexpr DecodeTable<F> kTable;
    const int nt = static_cast<int>(a.n_tok);
    for (int64_t r = a.row_begin; r < a.row_end;) {
      const int nr = a.row_end - r >= kTileRows ? kTileRows : 1;
      kTable.fn[nr == kTileRows][nt - 1](w + r * row_bytes, row_bytes, a.x, a.n_in, a.y + r, a.n_out);
      r += nr;
    }
    return;
  }
  const int64_t panel = ExactPanelRows(a.n_in);
  for (int64_t p0 = a.row_begin; p0 < a.row_end; p0 += panel) {
    const int64_t np = a.row_end - p0 < panel ? a.row_end - p0 : panel;
    for (int64_t i = 0; i < np; ++i) DequantizeRowF32<F>(w + (p0 + i) * row_bytes, a.n_in, scratch + i * a.n_in);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += kPanelTokens) {
      const int nt = static_cast<int>(a.n_tok - t0 < kPanelTokens ? a.n_tok - t0 : kPanelTokens);
      for (int64_t i = 0; i < np;) {
        const int nr = np - i >= kTileRows ? kTileRows : 1;
        kPanelTiles[nr == kTileRows][nt - 1](scratch + i * a.n_in, a.x + t0 * a.n_in, a.n_in,
                                             a.y + t0 * a.n_out + p0 + i, a.n_out);
        i += nr;
      }
    }
  }
}

}  // namespace

void MatMulExact(const MatMulArgs& a, float* scratch) {
  switch (a.dtype) {
    case DType::kQ8_0: return Run<Q8_0>(a, scratch);
    case DType::kQ4_0:
    case DType::kQ4_1: return MatMulExactQ4(a, scratch);
    case DType::kQ4_K: return Run<Q4_K>(a, scratch);
    case DType::kQ5_K: return Run<Q5_K>(a, scratch);
    case DType::kQ6_K: return Run<Q6_K>(a, scratch);
    case DType::kQ5_0: return Run<Q5_0>(a, scratch);
    default: return;
  }
}

}  // namespace flashstream::cpu::avx512
