// AVX-512 kernels for attention and the element-wise operations, and the AVX-512 kernel
// table. Compiled with AVX-512 flags; runs only after the CPU check.
#include "backend/cpu/avx512_intrinsics.h"

#include <cmath>
#include <cstdint>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul_mlx.h"  // MatMulMlx
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

// Scores of N heads q[N, hd] against one key k[hd]: s[i * kAttnBlock] = scale * q_i . k.
template <int N>
void Scores(const float* q, const float* k, int hd, float scale, float* s) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int c = 0; c < hd; c += 16) {
    const __mmask16 m = TailMask16(hd - c);
    const __m512 kv = _mm512_maskz_loadu_ps(m, k + c);
    for (int i = 0; i < N; ++i) acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i * hd + c), kv, acc[i]);
  }
  alignas(16) float sums[4];
  _mm_store_ps(sums, _mm_mul_ps(Reduce4(acc[0], acc[1], acc[2], acc[3]), _mm_set1_ps(scale)));
  for (int i = 0; i < N; ++i) s[i * kAttnBlock] = sums[i];
}
using ScoresFn = void (*)(const float*, const float*, int, float, float*);
constexpr ScoresFn kScores[5] = {nullptr, Scores<1>, Scores<2>, Scores<3>, Scores<4>};

// For K (out, p) pairs: out_k[0..16) += sum_b p[b * K + k] * v[b * kv_stride + 0..16) over nb keys.
template <int K>
void AccumulateValues(float* const* out, const float* p, const float* v, int64_t kv_stride, int nb, __mmask16 m) {
  __m512 acc[K];
  for (int k = 0; k < K; ++k) acc[k] = _mm512_maskz_loadu_ps(m, out[k]);
  for (int b = 0; b < nb; ++b) {
    const __m512 vv = _mm512_maskz_loadu_ps(m, v + b * kv_stride);
    for (int k = 0; k < K; ++k) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(p[b * K + k]), vv, acc[k]);
  }
  for (int k = 0; k < K; ++k) _mm512_mask_storeu_ps(out[k], m, acc[k]);
}
using AccumulateFn = void (*)(float* const*, const float*, const float*, int64_t, int, __mmask16);
constexpr int kMaxAccumulators = 12;
constexpr AccumulateFn kAccumulate[kMaxAccumulators + 1] = {
    nullptr,
    AccumulateValues<1>,
    AccumulateValues<2>,
    AccumulateValues<3>,
    AccumulateValues<4>,
    AccumulateValues<5>,
    AccumulateValues<6>,
    AccumulateValues<7>,
    AccumulateValues<8>,
    AccumulateValues<9>,
    AccumulateValues<10>,
    AccumulateValues<11>,
    AccumulateValues<12>,
};

// Online softmax over key blocks: per block, the scores of every token and head (each key
// row, all kv heads contiguous, is read once for all n_q tokens), then each (token, head)'s
// running max/sum/out is rescaled and the block's values accumulated; the (token, head)
// pairs of one kv head share each value load. Keys outside a token's range score -inf and
// weigh exactly 0, so a token's result equals that of a task holding it alone.
void Attend(const AttnTask& a) {
  const int heads = a.n_heads, group = a.n_heads / a.n_kv_heads, hd = a.head_dim, nq = a.n_q;
  const int64_t th_count = static_cast<int64_t>(nq) * heads;
  float* s = a.scratch;                                                    // [nq, heads, kAttnBlock]
  float* pt = a.scratch + static_cast<int64_t>(nq) * heads * kAttnBlock;  // [kAttnBlock, <= 12]
  if (!a.resume) {
    for (int64_t th = 0; th < th_count; ++th) {
      a.max[th] = -INFINITY;
      a.sum[th] = 0.f;
    }
    for (int64_t i = 0; i < th_count * hd; ++i) a.out[i] = 0.f;
  }
  for (int64_t jb = 0; jb < a.n_keys; jb += kAttnBlock) {
    const int nb = static_cast<int>(a.n_keys - jb < kAttnBlock ? a.n_keys - jb : kAttnBlock);
    for (int b = 0; b < nb; ++b) {
      const float* krow = a.k + (jb + b) * a.kv_stride;
      // The value rows are read column-wise below; stream this one into L2 meanwhile.
      const auto* vrow = reinterpret_cast<const char*>(a.v + (jb + b) * a.kv_stride);
      for (int64_t off = 0; off < a.kv_stride * 4; off += 64) _mm_prefetch(vrow + off, _MM_HINT_T1);
      for (int i = 0; i < nq; ++i) {
        float* si = s + static_cast<int64_t>(i) * heads * kAttnBlock;
        if (jb + b < a.lo[i] || jb + b >= a.hi[i]) {  // outside token i's keys
          for (int h = 0; h < heads; ++h) si[h * kAttnBlock + b] = -INFINITY;
          continue;
        }
        const float* qi = a.q + static_cast<int64_t>(i) * heads * hd;
        for (int h = 0; h < heads;) {  // up to 4 heads of one kv head per reduction
          const int g = h / group;
          int n = 1;
          while (n < 4 && h + n < heads && (h + n) / group == g) ++n;
          kScores[n](qi + h * hd, krow + g * hd, hd, a.scale, si + h * kAttnBlock + b);
          h += n;
        }
      }
    }
    for (int64_t th = 0; th < th_count; ++th) {
      float* p = s + th * kAttnBlock;
      __m512 mx = _mm512_set1_ps(-INFINITY);
      for (int b = 0; b < nb; b += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, TailMask16(nb - b), p + b));
      const float m_new = std::fmax(a.max[th], _mm512_reduce_max_ps(mx));
      if (m_new != a.max[th] && a.max[th] != -INFINITY) {  // rescale what was accumulated
        const float corr = std::exp(a.max[th] - m_new);
        a.sum[th] *= corr;
        const __m512 cv = _mm512_set1_ps(corr);
        float* o = a.out + th * hd;
        for (int c = 0; c < hd; c += 16) {
          const __mmask16 m = TailMask16(hd - c);
          _mm512_mask_storeu_ps(o + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + c), cv));
        }
      }
      a.max[th] = m_new;
      const __m512 mv = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
      for (int b = 0; b < nb; b += 16) {
        const __mmask16 m = TailMask16(nb - b);
        const __m512 x = _mm512_maskz_loadu_ps(m, p + b);
        const __mmask16 live = _mm512_mask_cmp_ps_mask(m, x, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        const __m512 e = _mm512_maskz_mov_ps(live, Exp(_mm512_sub_ps(x, mv)));
        _mm512_mask_storeu_ps(p + b, m, e);
        sum = _mm512_add_ps(sum, e);
      }
      a.sum[th] += _mm512_reduce_add_ps(sum);
    }
    // out[i, h] += p[i, h, b] * v_b over the (token, head) pairs of each kv head, up to
    // kMaxAccumulators at a time sharing each value load; p is transposed to [b, pair] first.
    for (int g = 0; g < a.n_kv_heads; ++g) {
      const int pairs = nq * group;
      for (int k0 = 0; k0 < pairs; k0 += kMaxAccumulators) {
        const int n = pairs - k0 < kMaxAccumulators ? pairs - k0 : kMaxAccumulators;
        float* outs[kMaxAccumulators];
        for (int k = 0; k < n; ++k) {
          const int64_t th = static_cast<int64_t>((k0 + k) / group) * heads + g * group + (k0 + k) % group;
          outs[k] = a.out + th * hd;
          for (int b = 0; b < nb; ++b) pt[b * n + k] = s[th * kAttnBlock + b];
        }
        for (int c = 0; c < hd; c += 16) {
          float* outc[kMaxAccumulators];
          for (int k = 0; k < n; ++k) outc[k] = outs[k] + c;
          kAccumulate[n](outc, pt, a.v + jb * a.kv_stride + g * hd + c, a.kv_stride, nb, TailMask16(hd - c));
        }
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
  static const CpuKernels kernels{
      "avx512", avx512::SplitActs,   avx512::QuantizeActs, avx512::MatMul, Attend, avx512::DecodeKv, RmsNorm, SwiGlu,
      Add,      avx512::MatMulExact, avx512::MatMulMlx};
  return kernels;
}

}  // namespace flashstream::cpu
