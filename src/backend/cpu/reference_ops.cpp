#include "backend/cpu/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "backend/cpu/quant.h"
#include "core/check.h"

namespace flashstream::ref {

void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y) {
  const int64_t n_out = w.rows(), n_in = w.cols();
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    DequantizeRow(w.dtype, w.row(r), row.data(), n_in);
    for (int64_t t = 0; t < n_tok; ++t) {
      double acc = 0.0;
      for (int64_t i = 0; i < n_in; ++i) acc += static_cast<double>(row[i]) * x[t * n_in + i];
      y[t * n_out + r] = static_cast<float>(acc);
    }
  }
}

void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out) {
  const int64_t cols = table.cols();
  for (int64_t i = 0; i < n; ++i) {
    FS_CHECK(ids[i] >= 0 && ids[i] < table.rows(), "row id {} outside [0, {})", ids[i], table.rows());
    DequantizeRow(table.dtype, table.row(ids[i]), out + i * cols, cols);
  }
}

void RmsNorm(const float* x, const TensorView& weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
             float* out) {
  std::vector<float> w(weight.f32(), weight.f32() + n);
  for (float& v : w) v += weight_offset;
  for (int64_t t = 0; t < n_tok; ++t) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[t * n + i]) * x[t * n + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
    for (int64_t i = 0; i < n; ++i) out[t * n + i] = static_cast<float>(x[t * n + i] * inv * w[i]);
  }
}

float RopeInvFreq(const RopeParams& p, int i) {
  double freq = std::pow(static_cast<double>(p.theta), -2.0 * i / p.rope_dim) / p.linear_factor;
  if (p.scale_factor > 0.f) {
    const double pi2 = 2.0 * std::numbers::pi;
    const double low_wavelen = p.original_context / static_cast<double>(p.low_freq_factor);
    const double high_wavelen = p.original_context / static_cast<double>(p.high_freq_factor);
    const double wavelen = pi2 / freq;
    if (wavelen > low_wavelen) {
      freq /= p.scale_factor;  // low frequencies: fully scaled
    } else if (wavelen >= high_wavelen) {
      const double smooth = (p.original_context / wavelen - p.low_freq_factor) /
                            (static_cast<double>(p.high_freq_factor) - p.low_freq_factor);
      freq = (1.0 - smooth) * freq / p.scale_factor + smooth * freq;
    }
  }
  return static_cast<float>(freq);
}

void Rope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const RopeParams& params) {
  const int half = params.rope_dim / 2;
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float angle = static_cast<float>(pos[t]) * RopeInvFreq(params, i);
        const double c = std::cos(static_cast<double>(angle)), s = std::sin(static_cast<double>(angle));
        const int ia = params.interleaved ? 2 * i : i;
        const int ib = params.interleaved ? 2 * i + 1 : i + half;
        const double a = v[ia], b = v[ib];
        v[ia] = static_cast<float>(a * c - b * s);
        v[ib] = static_cast<float>(a * s + b * c);
      }
    }
  }
}

void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
               int n_kv_heads, int head_dim, float scale, int64_t window, float* out) {
  const int group = n_heads / n_kv_heads;
  std::vector<double> p(static_cast<size_t>(n_ctx));
  for (int64_t t = 0; t < n_tok; ++t) {
    const int64_t n_keys = n_ctx - n_tok + t + 1;
    const int64_t first = window > 0 ? std::max<int64_t>(0, n_keys - window) : 0;
    for (int h = 0; h < n_heads; ++h) {
      const int g = h / group;
      const float* qv = q + (t * n_heads + h) * head_dim;
      double max = -INFINITY;
      for (int64_t j = first; j < n_keys; ++j) {
        const float* kv = k + (j * n_kv_heads + g) * head_dim;
        double dot = 0.0;
        for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(qv[d]) * kv[d];
        p[j] = dot * scale;
        max = std::max(max, p[j]);
      }
      double sum = 0.0;
      for (int64_t j = first; j < n_keys; ++j) {
        p[j] = std::exp(p[j] - max);
        sum += p[j];
      }
      float* o = out + (t * n_heads + h) * head_dim;
      for (int d = 0; d < head_dim; ++d) {
        double acc = 0.0;
        for (int64_t j = first; j < n_keys; ++j) acc += p[j] * v[(j * n_kv_heads + g) * head_dim + d];
        o[d] = static_cast<float>(acc / sum);
      }
    }
  }
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void GeluTanhGlu(const float* gate, const float* up, int64_t n, float* out) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(0.5 * g * (1.0 + std::tanh(c * (g + 0.044715 * g * g * g))) * up[i]);
  }
}

void Add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void Scale(const float* x, float s, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

void SoftCap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
}

void QuantizeActivations(const float* x, int64_t n, int levels, int32_t* q, float* d) {
  const float unit = std::ldexp(1.f, 8 * (levels - 1));
  for (int64_t b = 0; b < n / kQK; ++b) {
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[b * kQK + j]));
    const float top = amax / 127.f;
    const float inv = (top != 0.f ? 1.f / top : 0.f) * unit;
    d[b] = top / unit;
    for (int j = 0; j < kQK; ++j) q[b * kQK + j] = static_cast<int32_t>(std::nearbyint(x[b * kQK + j] * inv));
  }
}

}  // namespace flashstream::ref
