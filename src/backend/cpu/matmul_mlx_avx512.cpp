// AVX-512 MLX matmul: the operation order of matmul_mlx.h, 16 lanes per vector.
// Codes are unpacked in registers (4-bit: 16 bytes split into nibbles and interleaved back
// into value order with 128-bit ops, which leave the 512-bit ports to the conversions and
// FMAs; 8-bit: bytes zero-extended); single-token calls never write them out, batched calls
// unpack each row once.
#include "backend/cpu/avx512_intrinsics.h"

#include "backend/cpu/matmul_exact_avx512.h"  // ReduceLanes, Bytes16
#include "backend/cpu/matmul_mlx.h"
#include "core/mlx_quant.h"

namespace flashstream::cpu::avx512 {
namespace {

// Codes 16c .. 16c + 15 of a packed row, as floats.
template <int kBits>
__m512 Codes16(const u8* row, int64_t c) {
  if constexpr (kBits == 8) {
    return _mm512_cvtepi32_ps(Bytes16(row + 16 * c));
  } else {
    const __m128i words = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * c));
    const __m512i spread = _mm512_permutexvar_epi32(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                                    _mm512_castsi128_si512(words));
    const __m512i shifts = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0);
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srlv_epi32(spread, shifts), _mm512_set1_epi32(0xF)));
  }
}

// Codes 32c .. 32c + 31 of a 4-bit row as two float vectors (chunks 2c and 2c + 1). Byte i of
// the row holds values 2i (low nibble) and 2i + 1 (high nibble).
inline void Codes32x4(const u8* row, int64_t c, __m512* lo16, __m512* hi16) {
  const __m128i bytes = Load128(row + 16 * c);
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i even = _mm_and_si128(bytes, mask);
  const __m128i odd = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
  *lo16 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(even, odd)));
  *hi16 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi8(even, odd)));
}

// Decode of a 4-bit row: RowDot's operation order, two chunks per 16-byte load.
float RowDot4(int group_size, const float* aux, const u8* row, const float* x, const float* xs, int64_t ng) {
  const int pairs = group_size / 32;
  __m512 lane = _mm512_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) {
    __m512 p = _mm512_setzero_ps();
    for (int k = 0; k < pairs; ++k) {
      const int64_t c = g * pairs + k;
      __m512 a, b;
      Codes32x4(row, c, &a, &b);
      p = _mm512_fmadd_ps(a, _mm512_loadu_ps(x + 32 * c), p);
      p = _mm512_fmadd_ps(b, _mm512_loadu_ps(x + 32 * c + 16), p);
    }
    lane = _mm512_fmadd_ps(p, _mm512_set1_ps(aux[g]), lane);
    lane = _mm512_fmadd_ps(_mm512_loadu_ps(xs + 16 * g), _mm512_set1_ps(aux[ng + g]), lane);
  }
  return ReduceLanes(lane);
}

// One token's dot product with one row; codes(k) gives chunk k of the row, aux the row's
// scales then biases (MlxRowAux).
template <typename CodesFn>
float RowDot(int group_size, const float* aux, const float* x, const float* xs, int64_t ng, const CodesFn& codes) {
  const int chunks = group_size / 16;
  __m512 lane = _mm512_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) {
    __m512 p = _mm512_setzero_ps();
    for (int k = 0; k < chunks; ++k) {
      const int64_t c = g * chunks + k;
      p = _mm512_fmadd_ps(codes(c), _mm512_loadu_ps(x + 16 * c), p);
    }
    lane = _mm512_fmadd_ps(p, _mm512_set1_ps(aux[g]), lane);
    lane = _mm512_fmadd_ps(_mm512_loadu_ps(xs + 16 * g), _mm512_set1_ps(aux[ng + g]), lane);
  }
  return ReduceLanes(lane);
}

template <int kBits>
void MatMulBits(const MlxMatMulArgs& a) {
  const TensorView& w = *a.w;
  const int64_t n_in = w.cols(), n_out = w.rows(), ng = n_in / w.group_size;
  float* aux = a.scratch + (n_in + 15) / 16 * 16;  // [2 ng]
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    const auto* row = reinterpret_cast<const u8*>(w.row(r));
    MlxRowAux(w, r, aux);
    if (a.n_tok == 1) {
      a.y[r] = kBits == 4
                   ? RowDot4(w.group_size, aux, row, a.x, a.xsum, ng)
                   : RowDot(w.group_size, aux, a.x, a.xsum, ng, [row](int64_t c) { return Codes16<kBits>(row, c); });
      continue;
    }
    for (int64_t c = 0; c < n_in / 16; ++c) _mm512_store_ps(a.scratch + 16 * c, Codes16<kBits>(row, c));
    for (int64_t t = 0; t < a.n_tok; ++t) {
      a.y[t * n_out + r] = RowDot(w.group_size, aux, a.x + t * n_in, a.xsum + t * ng * 16, ng,
                                  [q = a.scratch](int64_t c) { return _mm512_load_ps(q + 16 * c); });
    }
  }
}

}  // namespace

void MatMulMlx(const MlxMatMulArgs& a) {
  if (a.w->dtype == DType::kMlxQ4) return MatMulBits<4>(a);
  MatMulBits<8>(a);
}

}  // namespace flashstream::cpu::avx512
