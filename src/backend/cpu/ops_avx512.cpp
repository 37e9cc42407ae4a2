// AVX-512 kernels for attention and the element-wise operations, and the AVX-512 kernel
// table. Compiled with AVX-512 flags; runs only after the CPU check.
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 implements _mm512_undefined_*() by self-initialization, which -Wuninitialized
// reports wherever an intrinsic using it is inlined; these are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cmath>
#include <cstdint>

#include "backend/cpu/kernels.h"

namespace flashstream::cpu {
namespace {

// e^x for 16 lanes, within ~2 ulp: x = n ln2 + r with |r| <= ln2/2, e^r by its degree-7
// Taylor polynomial (truncation < 6e-9 relative), then scaled by 2^n. Overflows to +inf,
// underflows to 0, and keeps NaN.
__m512 Exp(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(100.f), _mm512_max_ps(_mm512_set1_ps(-104.f), x));  // NaN stays (2nd operand)
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 5040.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

__mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
// All 16 lanes when n >= 16, else the first n.
__mmask16 TailMask16(int64_t n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n); }

// The horizontal sums of 4 vectors, in a fixed order.
__m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const auto half = [](__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); };
  const __m256 ab = _mm256_hadd_ps(half(a), half(b));
  const __m256 cd = _mm256_hadd_ps(half(c), half(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

constexpr int kAttnBlock = 64;  // keys per softmax block (scores of all heads: n_heads * 64 floats)

// Scores of `n` (<= 4) heads q[n, hd] against one key k[hd]: s[i * kAttnBlock] = scale * q_i . k.
void Scores4(const float* q, const float* k, int n, int hd, float scale, float* s) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int c = 0; c < hd; c += 16) {
    const __mmask16 m = hd - c >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(hd - c);
    const __m512 kv = _mm512_maskz_loadu_ps(m, k + c);
    for (int i = 0; i < n; ++i) acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i * hd + c), kv, acc[i]);
  }
  alignas(16) float sums[4];
  _mm_store_ps(sums, _mm_mul_ps(Reduce4(acc[0], acc[1], acc[2], acc[3]), _mm_set1_ps(scale)));
  for (int i = 0; i < n; ++i) s[i * kAttnBlock] = sums[i];
}

// Online softmax over key blocks: per block, scores of all heads (each key row, all kv heads
// contiguous, is read once), then each head's running max/sum/out is rescaled and the
// block's values accumulated, heads of one kv head sharing each value load.
void Attend(const AttnTask& a) {
  const int heads = a.n_heads, group = a.n_heads / a.n_kv_heads, hd = a.head_dim;
  float* s = a.scratch;  // [heads, kAttnBlock]
  for (int h = 0; h < heads; ++h) {
    a.max[h] = -INFINITY;
    a.sum[h] = 0.f;
  }
  for (int64_t i = 0; i < static_cast<int64_t>(heads) * hd; ++i) a.out[i] = 0.f;
  for (int64_t jb = a.j0; jb < a.j1; jb += kAttnBlock) {
    const int nb = static_cast<int>(a.j1 - jb < kAttnBlock ? a.j1 - jb : kAttnBlock);
    for (int b = 0; b < nb; ++b) {
      const float* krow = a.k + (jb + b) * a.kv_stride;
      for (int h = 0; h < heads; h += 4) {
        const int n = heads - h < 4 ? heads - h : 4;
        // Heads h..h+n-1 may span kv heads: score them per kv head.
        for (int i = 0; i < n;) {
          const int g = (h + i) / group;
          int run = 1;
          while (i + run < n && (h + i + run) / group == g) ++run;
          Scores4(a.q + (h + i) * hd, krow + g * hd, run, hd, a.scale, s + (h + i) * kAttnBlock + b);
          i += run;
        }
      }
    }
    for (int h = 0; h < heads; ++h) {
      float* p = s + h * kAttnBlock;
      __m512 mx = _mm512_set1_ps(-INFINITY);
      for (int b = 0; b < nb; b += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, TailMask16(nb - b), p + b));
      const float m_new = std::fmax(a.max[h], _mm512_reduce_max_ps(mx));
      if (m_new != a.max[h] && a.max[h] != -INFINITY) {  // rescale what was accumulated
        const float corr = std::exp(a.max[h] - m_new);
        a.sum[h] *= corr;
        const __m512 cv = _mm512_set1_ps(corr);
        for (int c = 0; c < hd; c += 16) {
          const __mmask16 m = TailMask16(hd - c);
          _mm512_mask_storeu_ps(a.out + h * hd + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a.out + h * hd + c), cv));
        }
      }
      a.max[h] = m_new;
      const __m512 mv = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
      for (int b = 0; b < nb; b += 16) {
        const __mmask16 m = TailMask16(nb - b);
        const __m512 e = _mm512_maskz_mov_ps(m, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + b), mv)));
        _mm512_mask_storeu_ps(p + b, m, e);
        sum = _mm512_add_ps(sum, e);
      }
      a.sum[h] += _mm512_reduce_add_ps(sum);
    }
    // out[h] += p[h][b] * v_b for the heads of each kv head, up to 8 accumulators at a time.
    for (int g = 0; g < a.n_kv_heads; ++g) {
      for (int c = 0; c < hd; c += 16) {
        const __mmask16 m = TailMask16(hd - c);
        for (int i0 = 0; i0 < group; i0 += 8) {
          const int n = group - i0 < 8 ? group - i0 : 8;
          const int h0 = g * group + i0;
          __m512 acc[8];
          for (int i = 0; i < n; ++i) acc[i] = _mm512_maskz_loadu_ps(m, a.out + (h0 + i) * hd + c);
          for (int b = 0; b < nb; ++b) {
            const __m512 vv = _mm512_maskz_loadu_ps(m, a.v + (jb + b) * a.kv_stride + g * hd + c);
            for (int i = 0; i < n; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(s[(h0 + i) * kAttnBlock + b]), vv, acc[i]);
          }
          for (int i = 0; i < n; ++i) _mm512_mask_storeu_ps(a.out + (h0 + i) * hd + c, m, acc[i]);
        }
      }
    }
  }
  if (a.normalize) {
    for (int h = 0; h < heads; ++h) {
      const __m512 inv = _mm512_set1_ps(1.f / a.sum[h]);
      for (int c = 0; c < hd; c += 16) {
        const __mmask16 m = TailMask16(hd - c);
        _mm512_mask_storeu_ps(a.out + h * hd + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a.out + h * hd + c), inv));
      }
    }
  }
}

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  if (i < n) {
    const __m512 v = _mm512_maskz_loadu_ps(TailMask(n - i), x + i);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  const float ss = _mm512_reduce_add_ps(acc);
  const __m512 inv = _mm512_set1_ps(1.f / std::sqrt(ss / static_cast<float>(n) + eps));
  for (i = 0; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), inv), _mm512_loadu_ps(w + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv), _mm512_maskz_loadu_ps(m, w + i)));
  }
}

__m512 SiluMul(__m512 g, __m512 u) {
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.f), e)), u);
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, SiluMul(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, SiluMul(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

void Add(const float* a, const float* b, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

}  // namespace

const CpuKernels& Avx512Kernels() {
  static const CpuKernels kernels{"avx512", avx512::SplitActs, avx512::QuantizeActs, avx512::MatMul, Attend, RmsNorm, SwiGlu, Add};
  return kernels;
}

}  // namespace flashstream::cpu
