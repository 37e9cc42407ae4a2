// AVX-512 (F/BW/VL/DQ/VNNI + F16C) matmul kernels: y[n_tok, n_out] = x[n_tok, n_in] · w[n_out, n_in]^T.
//
// Quantized weights. The activations are quantized once per call per 32 values to 1-3 int8
// digits (ref::QuantizeActivations, QuantizedActs::levels). Each weight format is decoded in
// registers into unsigned bytes whose vpdpbusd (u8 x s8) products with each digit level are
// exact int32 sums, combined (LevelDot), converted to f32 and scaled by (weight scale *
// activation scale) per lane; see quant_formats_avx512.h.
// A register tile of R rows x T tokens reuses each decoded weight step T times and each
// activation load R times; rows are swept in L2-sized panels so prefill reads each weight
// byte from memory once.
//
// Float weights (F32/F16/BF16) are converted exactly to f32 and multiplied with f32 FMA.
// BF16 does not use vdpbf16ps: that would round the activations to bf16.
//
// Determinism: every y[t, r] is computed by the same instruction sequence whatever the
// tile shape and row range, so results are bitwise independent of thread count, tiling and
// of the other tokens of the call. This file is compiled with AVX-512 flags and runs only
// after the CPU check; it uses no inline functions from shared headers beyond trivial
// accessors (one-definition safety).
#include "backend/cpu/avx512_intrinsics.h"

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/quant_formats_avx512.h"

namespace flashstream::cpu::avx512 {
namespace {

int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t Max64(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- quantized tiles ----
// Each tile computes R rows x T tokens; per (row, token) the operation sequence is the same
// for every tile shape, which makes results independent of tiling and threads.

// Prefetch: rows are read R at a time, short interleaved streams that hardware prefetchers
// follow poorly, so each group also prefetches (into L2) the same group `prefetch` bytes on.
void PrefetchGroup(const u8* p, int bytes) {
  for (int b = 0; b < bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T1);
}

// A weight format with the number of activation digit levels (QuantizedActs::levels).
template <class F, int L>
struct WithLevels : F {
  static constexpr int kLevels = L;
};

// The dot products of one step with the L digit levels of the activations, combined into f32
// in units of the last level: level l + 1 starts from level l's int32 sum times 256 (exact:
// two levels stay below 2^26 in magnitude); a third level is added in f32 as
// fma(float(sum_12), 256, float(sum_3)). dot(l, start) is the int32 step dot of level l
// accumulated onto `start`.
template <int L, class Dot>
__m512 LevelDot(const Dot& dot) {
  __m512i hi = dot(0, _mm512_setzero_si512());
  if constexpr (L >= 2) hi = dot(1, _mm512_slli_epi32(hi, 8));
  if constexpr (L == 3) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_set1_ps(256.f),
                           _mm512_cvtepi32_ps(dot(2, _mm512_setzero_si512())));
  }
  return _mm512_cvtepi32_ps(hi);
}

template <class F, int R, int T>
struct StepTile {
  __m512 acc[R][T];

  // Accumulates values [k0, k1) (k0 a multiple of 512) into acc.
  void Run(const u8* const* rows, const QuantizedActs& xq, int64_t t0, int64_t k0, int64_t k1, int64_t, int64_t prefetch) {
    constexpr int kGroup = 512;
    for (int64_t v0 = k0; v0 < k1; v0 += kGroup) {
      const int nv = static_cast<int>(Min64(kGroup, k1 - v0));
      const u8* gp[R];
      for (int r = 0; r < R; ++r) {
        gp[r] = rows[r] + v0 / kGroup * F::kGroupBytes;
        PrefetchGroup(gp[r] + prefetch, F::kGroupBytes);
      }
      if (nv == kGroup) {
#pragma GCC unroll 4
        for (int step = 0; step < kGroup / F::kStep; ++step) Step(gp, xq, t0, v0, step, F::kStep);
      } else {
        for (int step = 0; step * F::kStep < nv; ++step) {
          Step(gp, xq, t0, v0, step, static_cast<int>(Min64(F::kStep, nv - step * F::kStep)));
        }
      }
    }
  }

  // acc += dot * (s * dx) per lane (+ m * dx * sum(q) in each block's first lane for Q4_1).
  void Step(const u8* const (&gp)[R], const QuantizedActs& xq, int64_t t0, int64_t v0, int step, int valid) {
    StepWeights w[R];
    for (int r = 0; r < R; ++r) F::Load(gp[r], step, valid, w[r]);
    const int64_t v = v0 + F::kStep * step;
    constexpr int L = F::kLevels;
    for (int t = 0; t < T; ++t) {
      const int8_t* xs[L];
      __m512i bias[L];
      for (int l = 0; l < L; ++l) {
        xs[l] = xq.q_row(t0 + t, l) + v;
        bias[l] = _mm512_setzero_si512();
        if constexpr (F::kBiasShift >= 0) {
          bias[l] = _mm512_slli_epi32(_mm512_load_si512(xq.lane_negsum_row(t0 + t, l) + v / 8), F::kBiasShift);
        }
      }
      const __m512 ed = _mm512_load_ps(xq.lane_d_row(t0 + t) + v / 8);
      for (int r = 0; r < R; ++r) {
        const __m512 dot = LevelDot<L>([&](int l, __m512i start) {
          return F::Dot(w[r], xs[l], l == 0 ? bias[0] : _mm512_add_epi32(start, bias[l]));
        });
        acc[r][t] = _mm512_fmadd_ps(dot, _mm512_mul_ps(w[r].scale, ed), acc[r][t]);
        if constexpr (F::kHasMin) {
          acc[r][t] = _mm512_fmadd_ps(w[r].min, _mm512_load_ps(xq.lane_cx_row(t0 + t) + v / 8), acc[r][t]);
        }
      }
    }
  }
};

// dx of the group's blocks (the 8 of a 256-value group in lanes 0..7).
template <class F>
__m512 GroupDx(const QuantizedActs& xq, int64_t t, int64_t v0) {
  const float* d = xq.d_row(t) + v0 / 32;
  if constexpr (F::kGroup == 512) return _mm512_load_ps(d);
  return _mm512_castps256_ps512(_mm256_load_ps(d));
}

// K-quants: the scales of a whole group, with float offsets added per group.
template <class F, int R, int T>
struct GroupTile {
  const u8* gp[R];
  __m512 acc[R][T];

  // One step: decode R weight steps, multiply with T activation steps. The lane scale is
  // s_unit * dx_block: for T == 1 the group's s already holds s * dx per unit; otherwise
  // it is formed here as es * ed. Both give the same f32 products.
  void Step(const QuantizedActs& xq, int64_t t0, int64_t v0, int step, const __m512 (&s)[R], const __m512 (&dx)[T]) {
    const __m512i unit_idx = _mm512_load_si512(F::UnitLanes(step));
    __m512i w[R];
    __m512 es[R];
    for (int r = 0; r < R; ++r) {
      w[r] = F::Load(gp[r], step);
      es[r] = _mm512_permutexvar_ps(unit_idx, s[r]);
    }
    constexpr int L = F::kLevels;
    const auto dot = [&](int r, int64_t t) {
      return LevelDot<L>(
          [&](int l, __m512i start) { return F::Dot(start, w[r], xq.q_row(t, l) + v0 + F::kStep * step); });
    };
    if constexpr (T == 1) {
      for (int r = 0; r < R; ++r) acc[r][0] = _mm512_fmadd_ps(dot(r, t0), es[r], acc[r][0]);
    } else {
      const __m512i block_idx = _mm512_load_si512(F::BlockLanes(step));
      for (int t = 0; t < T; ++t) {
        const __m512 ed = _mm512_permutexvar_ps(block_idx, dx[t]);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(dot(r, t0 + t), _mm512_mul_ps(es[r], ed), acc[r][t]);
      }
    }
  }

  // Scales and offsets of group g, prefetching the group `prefetch` bytes further on.
  static void GroupScales(const u8* const* rows, int64_t g, int n_units, int64_t prefetch, __m512 (&s)[R],
                          __m512 (&o)[R]) {
    for (int r = 0; r < R; ++r) {
      const u8* p = rows[r] + g * F::kGroupBytes;
      PrefetchGroup(p + prefetch, F::kGroupBytes);
      F::Scales(p, n_units, s[r], o[r]);
    }
  }

  // Groups are software-pipelined: the scales of group g+1 are loaded before the steps of
  // group g, so their load latency overlaps work instead of stalling the accumulators.
  // Accumulates values [k0, k1) (k0 a multiple of kGroup) of rows of n_in values into acc.
  void Run(const u8* const* rows, const QuantizedActs& xq, int64_t t0, int64_t k0, int64_t k1, int64_t n_in,
           int64_t prefetch) {
    const int64_t g_end = (k1 + F::kGroup - 1) / F::kGroup;
    const auto units = [&](int64_t g) { return static_cast<int>(Min64(F::kGroup, n_in - g * F::kGroup)) / F::kUnit; };
    __m512 s_next[R], o_next[R];
    GroupScales(rows, k0 / F::kGroup, units(k0 / F::kGroup), prefetch, s_next, o_next);
    for (int64_t g = k0 / F::kGroup; g < g_end; ++g) {
      const int64_t v0 = g * F::kGroup;
      const int nv = static_cast<int>(Min64(F::kGroup, n_in - v0));
      __m512 s[R], o[R], dx[T];
      for (int r = 0; r < R; ++r) {
        s[r] = s_next[r];
        o[r] = o_next[r];
        gp[r] = rows[r] + g * F::kGroupBytes;
      }
      if (g + 1 < g_end) GroupScales(rows, g + 1, units(g + 1), prefetch, s_next, o_next);
      for (int t = 0; t < T; ++t) dx[t] = GroupDx<F>(xq, t0 + t, v0);
      if constexpr (T == 1) {
        const __m512 dxu = F::kUnit == 32 ? dx[0]
                                          : _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0), dx[0]);
        for (int r = 0; r < R; ++r) s[r] = _mm512_mul_ps(s[r], dxu);
      }
#pragma GCC unroll 8
      for (int step = 0; step * F::kStep < nv; ++step) Step(xq, t0, v0, step, s, dx);
      for (int t = 0; t < T; ++t) {  // offsets: o * dx * sum(q) per unit
        const float* cx = F::kUnit == 32 ? xq.cx32_row(t0 + t) : xq.cx16_row(t0 + t);
        const __m512 c = _mm512_load_ps(cx + v0 / F::kUnit);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(o[r], c, acc[r][t]);
      }
    }
  }
};

// One tile's work: rows x tokens [t0, t0 + T) over values [k0, k1). Partial sums live in
// acc (16 floats per (row, token): acc + r * acc_stride + t * 16) between value ranges:
// read unless k0 == 0, written unless k1 == n_in, when y gets their sum instead. Storing
// and reloading is exact, so the split into value ranges does not change any result.
struct TileJob {
  const u8* rows[4];      // weight rows
  int64_t ids[4];         // their output indices
  const void* x;          // QuantizedActs or f32 activations
  int64_t t0, k0, k1, n_in;
  float* acc;
  int64_t acc_stride;
  float* y;
  int64_t n_out;
  int64_t prefetch;       // bytes ahead of each row to prefetch
};

template <int R, int T>
void LoadAcc(const TileJob& j, __m512 (&acc)[R][T]) {
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = j.k0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(j.acc + r * j.acc_stride + 16 * t);
}

template <int R, int T>
void StoreAcc(const TileJob& j, const __m512 (&acc)[R][T]) {
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      if (j.k1 == j.n_in) {
        j.y[(j.t0 + t) * j.n_out + j.ids[r]] = _mm512_reduce_add_ps(acc[r][t]);
      } else {
        _mm512_store_ps(j.acc + r * j.acc_stride + 16 * t, acc[r][t]);
      }
    }
  }
}

template <template <class, int, int> class Tile, class F, int R, int T>
void RunQTile(const TileJob& j) {
  Tile<F, R, T> tile;
  LoadAcc(j, tile.acc);
  tile.Run(j.rows, *static_cast<const QuantizedActs*>(j.x), j.t0, j.k0, j.k1, j.n_in, j.prefetch);
  StoreAcc(j, tile.acc);
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
void RunFTile(const TileJob& j) {
  const u8* const* rows = j.rows;
  const int64_t n_in = j.n_in;
  __m512 acc[R][T];
  LoadAcc(j, acc);
  const float* xt = static_cast<const float*>(j.x) + j.t0 * n_in;
  constexpr int kElemBytes = D == DType::kF32 ? 4 : 2;
  int64_t k = j.k0;
  for (; k + 16 <= j.k1; k += 16) {
    if ((k * kElemBytes) % 64 == 0) {  // one line per row per 64 bytes, `prefetch` bytes ahead
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(rows[r] + j.prefetch + k * kElemBytes), _MM_HINT_T1);
    }
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = LoadW<D>(rows[r], k);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(xt + t * n_in + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
    }
  }
  if (k < j.k1) {
    const auto m = static_cast<__mmask16>((1u << (j.k1 - k)) - 1u);
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = LoadWMasked<D>(rows[r], k, m);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, xt + t * n_in + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
    }
  }
  StoreAcc(j, acc);
}

// ---- drivers ----

constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;
constexpr int64_t kPrefetchRows = 8;       // see PrefetchGroup
constexpr int64_t kPanelBytes = 256 << 10;  // weight rows kept in L2 while tokens sweep them
constexpr int64_t kChunkRowBytes = 4 << 10; // prefill: bytes of one row per value range
constexpr int64_t kXChunkBytes = 192 << 10; // prefill: activation bytes per token chunk

using TileFn = void (*)(const TileJob& job);

template <class F, int R, int T>
struct QTileFn {
  static void Run(const TileJob& j) { RunQTile<StepTile, F, R, T>(j); }
};
template <class F, int R, int T>
struct KTileFn {
  static void Run(const TileJob& j) { RunQTile<GroupTile, F, R, T>(j); }
};
template <class D, int R, int T>
struct FTileFn {
  static void Run(const TileJob& j) { RunFTile<D::kType, R, T>(j); }
};
template <DType D>
struct FloatType {
  static constexpr DType kType = D;
};

// fn[i][t]: the tile of kRows[i] rows and t+1 tokens.
constexpr int kRows[2] = {1, kTileRows};
struct TileTable {
  TileFn fn[2][kTileTokens];
};

template <template <class, int, int> class Fn, class F>
constexpr TileTable MakeTiles() {
  return {{{Fn<F, 1, 1>::Run, Fn<F, 1, 2>::Run, Fn<F, 1, 3>::Run, Fn<F, 1, 4>::Run},
           {Fn<F, 4, 1>::Run, Fn<F, 4, 2>::Run, Fn<F, 4, 3>::Run, Fn<F, 4, 4>::Run}}};
}

// Rows [p0, p1) x tokens [c0, c1) over values [k0, k1), in tiles of up to 4 x 4; the
// partial sums of row p0 + i, token tile u sit at acc + i * acc_stride + u * 64.
void SweepBlock(const TileTable& tiles, const MatMulArgs& a, const void* x, int64_t row_bytes, int64_t p0, int64_t p1,
                int64_t c0, int64_t c1, int64_t k0, int64_t k1, int64_t acc_stride) {
  TileJob j;
  j.x = x;
  j.k0 = k0;
  j.k1 = k1;
  j.n_in = a.n_in;
  j.acc_stride = acc_stride;
  j.y = a.y;
  j.n_out = a.n_out;
  j.prefetch = kPrefetchRows * row_bytes;
  for (int64_t t0 = c0; t0 < c1; t0 += kTileTokens) {
    const int nt = static_cast<int>(Min64(kTileTokens, c1 - t0));
    j.t0 = t0;
    for (int64_t r = p0; r < p1;) {
      const int i = p1 - r >= kTileRows ? 1 : 0;
      for (int k = 0; k < kRows[i]; ++k) {
        j.ids[k] = r + k;
        j.rows[k] = reinterpret_cast<const u8*>(a.w) + (r + k) * row_bytes;
      }
      j.acc = a.scratch + (r - p0) * acc_stride + (t0 - c0) / kTileTokens * 64;
      tiles.fn[i][nt - 1](j);
      r += kRows[i];
    }
  }
}

// Decode sweeps 4-row tiles over whole rows (measured as fast as one-row streams and as 4
// long streams, and the tile shares its activation loads). Prefill blocks the product so
// that a panel of rows x a range of values stays in L2 while chunks of tokens sweep it.
void Sweep(const TileTable& tiles, const MatMulArgs& a, const void* x) {
  const auto row_bytes = static_cast<int64_t>(RowBytes(a.dtype, a.n_in));
  if (a.n_tok == 1) {
    SweepBlock(tiles, a, x, row_bytes, a.row_begin, a.row_end, 0, 1, 0, a.n_in, 0);
    return;
  }
  const bool quantized = x == a.xq;
  const int64_t align = quantized ? 512 : 16;
  const double row_bytes_per_value = static_cast<double>(row_bytes) / static_cast<double>(a.n_in);
  int64_t kc = static_cast<int64_t>(kChunkRowBytes / row_bytes_per_value) / align * align;
  kc = Min64(Max64(kc, align), a.n_in);
  const int64_t chunk_row_bytes = static_cast<int64_t>(static_cast<double>(kc) * row_bytes_per_value);
  const int64_t panel = Min64(64, Max64(kTileRows, kPanelBytes / chunk_row_bytes / kTileRows * kTileRows));
  // int8 digits + lane arrays, or f32
  const int64_t x_chunk_token_bytes = quantized ? kc * (2 * a.xq->levels + 3) / 2 : kc * 4;
  int64_t tokens = Max64(kTileTokens, kXChunkBytes / x_chunk_token_bytes / kTileTokens * kTileTokens);
  tokens = Min64(tokens, a.scratch_floats / (panel * 16) / kTileTokens * kTileTokens);
  // kMatMulScratchFloats holds 64 rows x 64 tokens, so tokens >= kTileTokens here.
  const int64_t acc_stride = tokens / kTileTokens * 64;
  for (int64_t p0 = a.row_begin; p0 < a.row_end; p0 += panel) {
    const int64_t p1 = Min64(a.row_end, p0 + panel);
    for (int64_t c0 = 0; c0 < a.n_tok; c0 += tokens) {
      const int64_t c1 = Min64(a.n_tok, c0 + tokens);
      for (int64_t k0 = 0; k0 < a.n_in; k0 += kc) {
        SweepBlock(tiles, a, x, row_bytes, p0, p1, c0, c1, k0, Min64(a.n_in, k0 + kc), acc_stride);
      }
    }
  }
}

// [levels - 1]: the tiles for each number of activation digit levels.
template <template <class, int, int> class Fn, class F>
struct LevelTiles {
  TileTable level[QuantizedActs::kMaxLevels] = {MakeTiles<Fn, WithLevels<F, 1>>(), MakeTiles<Fn, WithLevels<F, 2>>(),
                                                MakeTiles<Fn, WithLevels<F, 3>>()};
};
constexpr LevelTiles<QTileFn, Q8_0Format> kQ8_0Tiles;
constexpr LevelTiles<QTileFn, Q4_0Format> kQ4_0Tiles;
constexpr LevelTiles<QTileFn, Q4_1Format> kQ4_1Tiles;
constexpr LevelTiles<KTileFn, Q4_KFormat> kQ4_KTiles;
constexpr LevelTiles<KTileFn, Q5_KFormat> kQ5_KTiles;
constexpr LevelTiles<KTileFn, Q6_KFormat> kQ6_KTiles;
constexpr TileTable kF32Tiles = MakeTiles<FTileFn, FloatType<DType::kF32>>();
constexpr TileTable kF16Tiles = MakeTiles<FTileFn, FloatType<DType::kF16>>();
constexpr TileTable kBF16Tiles = MakeTiles<FTileFn, FloatType<DType::kBF16>>();

}  // namespace

bool SplitActs(DType dtype) { return dtype == DType::kQ8_0 || dtype == DType::kQ4_0 || dtype == DType::kQ4_1; }

void QuantizeActs(const float* x, const QuantizedActs& xq, int64_t t_begin, int64_t t_end) {
  const int64_t nb = xq.n_pad / 32;
  const int levels = xq.levels;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  // Q = round(x / d) with d = amax / 127 * 2^-shift, formed as round((x * (1 / (amax / 127))) * 2^shift).
  const int shift = 8 * (levels - 1);
  const __m512 unit = _mm512_set1_ps(static_cast<float>(1 << shift));
  const float down = 1.f / static_cast<float>(1 << shift);
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* xt = x + t * xq.n_in;
    float* d = xq.d + t * nb;
    float* cx32 = xq.cx32 + t * nb;
    float* cx16 = xq.cx16 + t * 2 * nb;
    for (int64_t b = 0; b < nb; ++b) {
      // Where the block's two halves go (see QuantizedActs::split).
      const int64_t off0 = xq.split ? 128 * (b / 4) + 16 * (b % 4) : 32 * b;
      const int64_t off1 = xq.split ? off0 + 64 : off0 + 16;
      float scale = 0.f;
      int sum0 = 0, sum1 = 0;
      int negsum[QuantizedActs::kMaxLevels] = {};
      if (b * 32 < xq.n_in) {
        const __m512 x0 = _mm512_loadu_ps(xt + 32 * b), x1 = _mm512_loadu_ps(xt + 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, abs_mask), _mm512_and_ps(x1, abs_mask)));
        const float top = amax / 127.f;
        const __m512 inv = _mm512_mul_ps(_mm512_set1_ps(top != 0.f ? 1.f / top : 0.f), unit);
        scale = top * down;
        // round half even (MXCSR default)
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, inv)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, inv));
        sum0 = _mm512_reduce_add_epi32(i0);
        sum1 = _mm512_reduce_add_epi32(i1);
        // Digits from the last: q_L = Q - 256 round_down((Q + 128) / 256), Q <- (Q - q_L) / 256.
        for (int l = levels - 1; l >= 0; --l) {
          __m512i h0 = i0, h1 = i1;
          if (l > 0) {
            h0 = _mm512_srai_epi32(_mm512_add_epi32(i0, _mm512_set1_epi32(128)), 8);
            h1 = _mm512_srai_epi32(_mm512_add_epi32(i1, _mm512_set1_epi32(128)), 8);
            i0 = _mm512_sub_epi32(i0, _mm512_slli_epi32(h0, 8));
            i1 = _mm512_sub_epi32(i1, _mm512_slli_epi32(h1, 8));
          }
          int8_t* ql = xq.q_row_mut(t, l);
          _mm_store_si128(reinterpret_cast<__m128i*>(ql + off0), _mm512_cvtepi32_epi8(i0));
          _mm_store_si128(reinterpret_cast<__m128i*>(ql + off1), _mm512_cvtepi32_epi8(i1));
          negsum[l] = -(_mm512_reduce_add_epi32(i0) + _mm512_reduce_add_epi32(i1));
          i0 = h0;
          i1 = h1;
        }
      } else {
        for (int l = 0; l < levels; ++l) {
          int8_t* ql = xq.q_row_mut(t, l);
          _mm_store_si128(reinterpret_cast<__m128i*>(ql + off0), _mm_setzero_si128());
          _mm_store_si128(reinterpret_cast<__m128i*>(ql + off1), _mm_setzero_si128());
        }
      }
      d[b] = scale;
      cx32[b] = scale * static_cast<float>(sum0 + sum1);
      if (xq.split) {  // lanes 4k..4k+3 of the block's 128-value step
        const int64_t lane = t * (xq.n_pad / 8) + 16 * (b / 4) + 4 * (b % 4);
        _mm_store_ps(xq.lane_d + lane, _mm_set1_ps(scale));
        for (int l = 0; l < levels; ++l) {
          _mm_store_si128(reinterpret_cast<__m128i*>(xq.lane_negsum + l * xq.n_tok * (xq.n_pad / 8) + lane),
                          _mm_set_epi32(0, 0, 0, negsum[l]));
        }
        _mm_store_ps(xq.lane_cx + lane, _mm_set_ps(0.f, 0.f, 0.f, cx32[b]));
      }
      cx16[2 * b] = scale * static_cast<float>(sum0);
      cx16[2 * b + 1] = scale * static_cast<float>(sum1);
    }
  }
}

void MatMul(const MatMulArgs& a) {
  switch (a.dtype) {
    case DType::kQ8_0:
      return Sweep(kQ8_0Tiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kQ4_0:
      return Sweep(kQ4_0Tiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kQ4_1:
      return Sweep(kQ4_1Tiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kQ4_K:
      return Sweep(kQ4_KTiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kQ5_K:
      return Sweep(kQ5_KTiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kQ6_K:
      return Sweep(kQ6_KTiles.level[a.xq->levels - 1], a, a.xq);
    case DType::kF32: return Sweep(kF32Tiles, a, a.x);
    case DType::kF16: return Sweep(kF16Tiles, a, a.x);
    case DType::kBF16: return Sweep(kBF16Tiles, a, a.x);
    default: return;
  }
}

}  // namespace flashstream::cpu::avx512
