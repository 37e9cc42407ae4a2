// AVX-512 exact matmul for Q4_0 and Q4_1, in the block-scaled operation order of
// matmul_exact.h: per block, p = sum of 16u * x over the block (lane-wise, two roundings),
// acc += p * (d / 16); per group of 16 blocks, acc += m * S (S: the block sums of x).
// 16u comes for free: the low nibble through vpermps from the table {0, 16, ..., 240} (vpermps
// reads only an index's low 4 bits), the high nibble by masking (q & 0xF0) and converting.
//  decode  (n_tok < kMinPanelTokens): register tiles of up to 4 rows x 3 tokens.
//  batched: a panel of rows is unpacked once into scratch (16u as f32, d / 16, m), then swept
//           by tiles of 4 rows x 4 tokens with the same per-element operations.
#include "backend/cpu/matmul_exact_avx512.h"
#include "backend/cpu/avx512_intrinsics.h"

#include "backend/cpu/matmul_exact.h"

namespace flashstream::cpu::avx512 {
namespace {

constexpr int kGroup = 16;  // blocks per group: one vector of scales, mins and block sums
constexpr int kPanelTokens = 4;

// Q4_0 (w = d * (q - 8), so m = -8 d) and Q4_1 (w = d * q + m); qs byte i of a block holds
// values i (low nibble) and i + 16 (high nibble).
template <bool kMin>
struct Q4 {
  static constexpr int kBlockBytes = kMin ? 20 : 18, kQs = kMin ? 4 : 2;
  struct Scales {
    alignas(64) float d16[kGroup];  // d / 16
    alignas(64) float m[kGroup];    // 0 past the row's end
  };
  static void Prepare(const u8* g, int n_blocks, Scales& sc) {
    const __m512i words = GatherScaleWords<kBlockBytes, kMin>(g, n_blocks);
    const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(words));
    _mm512_store_ps(sc.d16, _mm512_mul_ps(d, _mm512_set1_ps(0.0625f)));
    _mm512_store_ps(sc.m, kMin ? _mm512_cvtph_ps(_mm512_extracti64x4_epi64(words, 1)) : _mm512_mul_ps(d, _mm512_set1_ps(-8.f)));
  }
  // 16 q of values 0..15 and 16..31 of block j, as f32.
  static void Unit(const u8* g, int j, __m512 table, __m512& u0, __m512& u1) {
    const __m512i q = Bytes16(g + j * kBlockBytes + kQs);
    u0 = _mm512_permutexvar_ps(q, table);
    u1 = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(0xF0)));
  }
};

__m512 Table16() { return Iota(0.f, 16.f); }

// S[t][b]: (x[32b + l] + x[32b + 16 + l]) reduced over l as in ReduceLanes; zero from nb up
// to the padded row length nb16.
void BlockSums(const float* x, int64_t n_tok, int64_t n_in, int64_t nb16, float* s) {
  const int64_t nb = n_in / 32;
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t b = 0; b < nb16; ++b) {
      s[t * nb16 + b] = b < nb ? ReduceLanes(_mm512_add_ps(_mm512_loadu_ps(x + t * n_in + 32 * b),
                                                           _mm512_loadu_ps(x + t * n_in + 32 * b + 16)))
                               : 0.f;
    }
  }
}

template <class F, int R, int T>
void DecodeTile(const u8* w, int64_t row_bytes, const float* x, const float* s, int64_t nb16, int64_t n_in, float* y,
                int64_t n_out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  const __m512 table = Table16();
  typename F::Scales sc[R];
  const int64_t nb = n_in / 32;
  for (int64_t b0 = 0; b0 < nb; b0 += kGroup) {
    const int n = static_cast<int>(nb - b0 < kGroup ? nb - b0 : kGroup);
    const u8* g[R];
    for (int r = 0; r < R; ++r) {
      g[r] = w + r * row_bytes + b0 * F::kBlockBytes;
      PrefetchL2(g[r] + kPrefetchRows * row_bytes, n * F::kBlockBytes);
      F::Prepare(g[r], n, sc[r]);
      const __m512 m = _mm512_load_ps(sc[r].m);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(m, _mm512_loadu_ps(s + t * nb16 + b0), acc[r][t]);
    }
    for (int j = 0; j < n; ++j) {
      __m512 u0[R], u1[R];
      for (int r = 0; r < R; ++r) F::Unit(g[r], j, table, u0[r], u1[r]);
      const float* xv = x + 32 * (b0 + j);
      for (int t = 0; t < T; ++t) {
        const __m512 x0 = _mm512_loadu_ps(xv + t * n_in), x1 = _mm512_loadu_ps(xv + t * n_in + 16);
        for (int r = 0; r < R; ++r) {
          const __m512 p = _mm512_fmadd_ps(u1[r], x1, _mm512_mul_ps(u0[r], x0));
          acc[r][t] = _mm512_fmadd_ps(p, _mm512_set1_ps(sc[r].d16[j]), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * n_out + r] = ReduceLanes(acc[r][t]);
}

// A panel row: 16u of every value [n_in], then d / 16 and m of every block [nb16 each].
template <class F>
void UnpackRow(const u8* row, int64_t n_in, int64_t nb16, float* out) {
  const __m512 table = Table16();
  const int64_t nb = n_in / 32;
  float* d16 = out + n_in;
  float* m = d16 + nb16;
  typename F::Scales sc;
  for (int64_t b0 = 0; b0 < nb16; b0 += kGroup) {
    const int n = static_cast<int>(nb - b0 < kGroup ? (nb > b0 ? nb - b0 : 0) : kGroup);
    const u8* g = row + b0 * F::kBlockBytes;
    F::Prepare(g, n, sc);
    _mm512_store_ps(d16 + b0, _mm512_load_ps(sc.d16));
    _mm512_store_ps(m + b0, _mm512_load_ps(sc.m));
    for (int j = 0; j < n; ++j) {
      __m512 u0, u1;
      F::Unit(g, j, table, u0, u1);
      _mm512_store_ps(out + 32 * (b0 + j), u0);
      _mm512_store_ps(out + 32 * (b0 + j) + 16, u1);
    }
  }
}

// Rows of the panel are stride floats apart; tokens of x n_in floats, of s nb16.
template <int R, int T>
void PanelTile(const float* u, int64_t stride, const float* x, const float* s, int64_t nb16, int64_t n_in, float* y,
               int64_t n_out) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t nb = n_in / 32;
  for (int64_t b0 = 0; b0 < nb; b0 += kGroup) {
    for (int r = 0; r < R; ++r) {
      const __m512 m = _mm512_load_ps(u + r * stride + n_in + nb16 + b0);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(m, _mm512_loadu_ps(s + t * nb16 + b0), acc[r][t]);
    }
    const int64_t b1 = nb - b0 < kGroup ? nb : b0 + kGroup;
    for (int64_t b = b0; b < b1; ++b) {
      __m512 u0[R], u1[R];
      for (int r = 0; r < R; ++r) {
        u0[r] = _mm512_load_ps(u + r * stride + 32 * b);
        u1[r] = _mm512_load_ps(u + r * stride + 32 * b + 16);
      }
      for (int t = 0; t < T; ++t) {
        const __m512 x0 = _mm512_loadu_ps(x + t * n_in + 32 * b), x1 = _mm512_loadu_ps(x + t * n_in + 32 * b + 16);
        for (int r = 0; r < R; ++r) {
          const __m512 p = _mm512_fmadd_ps(u1[r], x1, _mm512_mul_ps(u0[r], x0));
          acc[r][t] = _mm512_fmadd_ps(p, _mm512_set1_ps(u[r * stride + n_in + b]), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * n_out + r] = ReduceLanes(acc[r][t]);
}

using DecodeFn = void (*)(const u8*, int64_t, const float*, const float*, int64_t, int64_t, float*, int64_t);
using PanelFn = void (*)(const float*, int64_t, const float*, const float*, int64_t, int64_t, float*, int64_t);

template <class F>
struct DecodeTable {  // [0]: 1 row, [1]: kTileRows rows; then tokens 1..kDecodeTokens
  DecodeFn fn[2][kDecodeTokens] = {{DecodeTile<F, 1, 1>, DecodeTile<F, 1, 2>, DecodeTile<F, 1, 3>},
                                   {DecodeTile<F, 4, 1>, DecodeTile<F, 4, 2>, DecodeTile<F, 4, 3>}};
};
constexpr PanelFn kPanelTiles[2][kPanelTokens] = {
    {PanelTile<1, 1>, PanelTile<1, 2>, PanelTile<1, 3>, PanelTile<1, 4>},
    {PanelTile<4, 1>, PanelTile<4, 2>, PanelTile<4, 3>, PanelTile<4, 4>}};

template <class F>
void Run(const MatMulArgs& a, float* scratch) {
  const int64_t row_bytes = a.n_in / 32 * F::kBlockBytes;
  const int64_t nb16 = ExactBlockSumStride(a.n_in);
  const u8* w = reinterpret_cast<const u8*>(a.w);
  float* s = scratch;
  BlockSums(a.x, a.n_tok, a.n_in, nb16, s);
  if (a.n_tok < kMinPanelTokens) {
    static constexpr DecodeTable<F> kTable;
    const int nt = static_cast<int>(a.n_tok);
    for (int64_t r = a.row_begin; r < a.row_end;) {
      const int nr = a.row_end - r >= kTileRows ? kTileRows : 1;
      kTable.fn[nr == kTileRows][nt - 1](w + r * row_bytes, row_bytes, a.x, s, nb16, a.n_in, a.y + r, a.n_out);
      r += nr;
    }
    return;
  }
  float* panel = s + a.n_tok * nb16;
  const int64_t stride = a.n_in + 2 * nb16;
  const int64_t rows = ExactPanelRows(a.n_in);
  for (int64_t p0 = a.row_begin; p0 < a.row_end; p0 += rows) {
    const int64_t np = a.row_end - p0 < rows ? a.row_end - p0 : rows;
    for (int64_t i = 0; i < np; ++i) UnpackRow<F>(w + (p0 + i) * row_bytes, a.n_in, nb16, panel + i * stride);
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += kPanelTokens) {
      const int nt = static_cast<int>(a.n_tok - t0 < kPanelTokens ? a.n_tok - t0 : kPanelTokens);
      for (int64_t i = 0; i < np;) {
        const int nr = np - i >= kTileRows ? kTileRows : 1;
        kPanelTiles[nr == kTileRows][nt - 1](panel + i * stride, stride, a.x + t0 * a.n_in, s + t0 * nb16, nb16,
                                             a.n_in, a.y + t0 * a.n_out + p0 + i, a.n_out);
        i += nr;
      }
    }
  }
}

}  // namespace

void MatMulExactQ4(const MatMulArgs& a, float* scratch) {
  if (a.dtype == DType::kQ4_1) return Run<Q4<true>>(a, scratch);
  Run<Q4<false>>(a, scratch);
}

}  // namespace flashstream::cpu::avx512
