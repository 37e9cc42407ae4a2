// AVX-512 decoding of KV cache blocks (core/kv_quant.h) into f32 rows for attention: f16 by
// F16C, 8/4-bit codes widened to f32 and fma(code, scale, min), the reference's exact order, so
// the result equals DequantizeKvRows bit for bit. Compiled with AVX-512 flags; runs only after
// the CPU check.
#include <cstring>
#include <vector>

#include "backend/cpu/avx512_intrinsics.h"
#include "backend/cpu/kernels.h"
#include "core/half.h"

namespace flashstream::cpu::avx512 {
namespace {

__mmask16 Mask16(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// Codes c..c+cnt-1 (cnt <= 16, c even for Q4) of one row as f32.
__m512 LoadCodes(KvFormat f, const std::byte* row, int c, int cnt) {
  if (f == KvFormat::kQ8) {
    const __m128i b = cnt == 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c))
                                : _mm_maskz_loadu_epi8(Mask16(cnt), row + c);
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
  }
  const __m128i packed = cnt == 16 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + c / 2))
                                   : _mm_maskz_loadu_epi8(Mask16((cnt + 1) / 2), row + c / 2);
  const __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
  const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(low, high)));
}

}  // namespace

void DecodeKv(const KvBlockLayout& l, const std::byte* block, int row0, int n, float* out) {
  const int w = l.width;
  const size_t row_bytes = l.row_code_bytes();
  const std::byte* codes = block + static_cast<size_t>(row0) * row_bytes;
  if (l.format == KvFormat::kF32) {
    std::memcpy(out, codes, static_cast<size_t>(n) * row_bytes);
    return;
  }
  if (l.format == KvFormat::kF16) {
    const int64_t total = int64_t{n} * w;
    for (int64_t i = 0; i < total; i += 16) {
      const __mmask16 m = Mask16(static_cast<int>(total - i < 16 ? total - i : 16));
      const __m256i h = _mm256_maskz_loadu_epi16(m, codes + 2 * i);
      _mm512_mask_storeu_ps(out + i, m, _mm512_cvtph_ps(h));
    }
    return;
  }
  const auto* params = reinterpret_cast<const uint16_t*>(block + l.code_bytes());
  if (l.grouping == KvGrouping::kPerChannel) {
    thread_local std::vector<float> scale, min;  // [w] widened once per call
    scale.resize(static_cast<size_t>(w));
    min.resize(static_cast<size_t>(w));
    for (int c = 0; c < w; ++c) {
      scale[static_cast<size_t>(c)] = HalfToFloat(params[2 * c]);
      min[static_cast<size_t>(c)] = HalfToFloat(params[2 * c + 1]);
    }
    for (int r = 0; r < n; ++r) {
      const std::byte* row = codes + static_cast<size_t>(r) * row_bytes;
      float* o = out + int64_t{r} * w;
      for (int c = 0; c < w; c += 16) {
        const int cnt = w - c < 16 ? w - c : 16;
        const __mmask16 m = Mask16(cnt);
        const __m512 v = _mm512_fmadd_ps(LoadCodes(l.format, row, c, cnt), _mm512_maskz_loadu_ps(m, scale.data() + c),
                                         _mm512_maskz_loadu_ps(m, min.data() + c));
        _mm512_mask_storeu_ps(o + c, m, v);
      }
    }
    return;
  }
  const int groups = w / l.group;
  for (int r = 0; r < n; ++r) {
    const std::byte* row = codes + static_cast<size_t>(r) * row_bytes;
    const uint16_t* p = params + static_cast<size_t>(row0 + r) * groups * 2;
    float* o = out + int64_t{r} * w;
    for (int g = 0; g < groups; ++g) {
      // (scale, min) widened by F16C, exactly as HalfToFloat.
      const __m128 sm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(p[2 * g] | (uint32_t{p[2 * g + 1]} << 16))));
      const __m512 scale = _mm512_broadcastss_ps(sm);
      const __m512 min = _mm512_broadcastss_ps(_mm_movehdup_ps(sm));
      for (int c = g * l.group; c < (g + 1) * l.group; c += 16) {
        const int cnt = (g + 1) * l.group - c < 16 ? (g + 1) * l.group - c : 16;
        _mm512_mask_storeu_ps(o + c, Mask16(cnt), _mm512_fmadd_ps(LoadCodes(l.format, row, c, cnt), scale, min));
      }
    }
  }
}

}  // namespace flashstream::cpu::avx512
