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
#include "backend/cpu/matmul_exact.h"  // avx512::MatMulExact

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

float Dot(const float* a, const float* b, int n) {
  __m512 acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// out[n] += a * v[n]
void Axpy(float a, const float* v, float* out, int n) {
  const __m512 av = _mm512_set1_ps(a);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(v + i), _mm512_loadu_ps(out + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, v + i), _mm512_maskz_loadu_ps(m, out + i)));
  }
}

void Attend(const AttnTask& t) {
  const int64_t nk = t.n_keys;
  // Scores, key-major so each key row is loaded once for the whole group.
  for (int64_t j = 0; j < nk; ++j) {
    const float* k = t.k + j * t.kv_stride;
    for (int h = 0; h < t.group; ++h) t.scratch[h * nk + j] = Dot(t.q + h * t.head_dim, k, t.head_dim) * t.scale;
  }
  for (int h = 0; h < t.group; ++h) {
    float* p = t.scratch + h * nk;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= nk; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(p + j));
    if (j < nk) mx = _mm512_mask_max_ps(mx, TailMask(nk - j), mx, _mm512_maskz_loadu_ps(TailMask(nk - j), p + j));
    const __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= nk; j += 16) {
      const __m512 e = Exp(_mm512_sub_ps(_mm512_loadu_ps(p + j), maxv));
      _mm512_storeu_ps(p + j, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (j < nk) {
      const __mmask16 m = TailMask(nk - j);
      const __m512 e = _mm512_maskz_mov_ps(m, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), maxv)));
      _mm512_mask_storeu_ps(p + j, m, e);
      sum = _mm512_add_ps(sum, e);
    }
    // Normalize the probabilities before accumulating so out needs no final pass.
    const __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
    for (j = 0; j + 16 <= nk; j += 16) _mm512_storeu_ps(p + j, _mm512_mul_ps(_mm512_loadu_ps(p + j), inv));
    if (j < nk) {
      const __mmask16 m = TailMask(nk - j);
      _mm512_mask_storeu_ps(p + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), inv));
    }
    float* out = t.out + h * t.head_dim;
    for (int d = 0; d < t.head_dim; ++d) out[d] = 0.f;
  }
  for (int64_t j = 0; j < nk; ++j) {
    const float* v = t.v + j * t.kv_stride;
    for (int h = 0; h < t.group; ++h) Axpy(t.scratch[h * nk + j], v, t.out + h * t.head_dim, t.head_dim);
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
  static const CpuKernels kernels{"avx512", avx512::SplitActs, avx512::QuantizeActs, avx512::MatMul, Attend, RmsNorm, SwiGlu, Add,
                                  avx512::MatMulExact};
  return kernels;
}

}  // namespace flashstream::cpu
