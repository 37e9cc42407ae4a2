// GetRows, RmsNorm, Rope, Attention, SwiGlu and Add on both CPU instruction sets against
// the scalar reference (reference_ops.h), with error bounds derived from f32 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "backend/cpu/reference_ops.h"
#include "core/thread_pool.h"
#include "test_util.h"

namespace flashstream {
namespace {

using testing::IsaName;
using testing::RandomFloats;
using testing::RandomWeights;
using testing::Weights;

constexpr double kEps = 1.0 / (1 << 24);  // f32 unit roundoff

class OpsTest : public ::testing::TestWithParam<CpuIsa> {
 protected:
  void SetUp() override {
    FS_SKIP_IF_ISA_MISSING(GetParam());
    be_ = MakeCpuBackend(pool_, CpuBackendOptions{GetParam()});
  }
  ThreadPool pool_{2};
  std::unique_ptr<Backend> be_;
  std::mt19937 rng_{11};
};

TEST_P(OpsTest, GetRowsDequantizesEveryDtype) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K,
                  DType::kQ5_K, DType::kQ6_K, DType::kQ5_0}) {
    Weights table = RandomWeights(t, 50, 512, rng_);
    const std::vector<int32_t> ids = {0, 49, 7, 7, 23};
    std::vector<float> got(ids.size() * 512), want(ids.size() * 512);
    be_->GetRows(table.view(), ids.data(), static_cast<int64_t>(ids.size()), got.data());
    ref::GetRows(table.view(), ids.data(), static_cast<int64_t>(ids.size()), want.data());
    EXPECT_EQ(got, want) << Name(t);
  }
}

// f32 sum of squares in 16 lanes: relative error of mean(x^2) <= (n/16 + 8) eps, halved by
// the square root, plus 3 roundings for 1/sqrt and the two products; allow twice that.
TEST_P(OpsTest, RmsNormMatchesReference) {
  for (int64_t n : {100, 576, 4096}) {
    for (int64_t n_tok : {1, 5}) {
      const std::vector<float> x = RandomFloats(n_tok * n, rng_, 3.f);
      std::vector<float> w = RandomFloats(n, rng_);
      const TensorView wv{reinterpret_cast<const std::byte*>(w.data()), DType::kF32, MakeShape({n})};
      std::vector<float> got = x, want(x.size());
      be_->RmsNorm(got.data(), wv, n_tok, n, 1e-5f, 0.f, got.data());  // in place
      ref::RmsNorm(x.data(), wv, n_tok, n, 1e-5f, 0.f, want.data());
      const double rel = 2.0 * ((n / 16.0 + 8) / 2 + 3) * kEps;
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + 1e-30) << n << " " << i;
    }
  }
}

// Rope: same f32 angle and (cos, sin) rounded to f32 as the reference, then two products and
// a sum in f32: |error| <= 4 eps (|a| + |b|) per rotated pair. Dims past rope_dim are untouched.
void CheckRope(Backend& be, const RopeParams& p, int head_dim, std::mt19937& rng) {
  const int n_heads = 3;
  const std::vector<int32_t> pos = {0, 1, 17, 4095, 131071};
  const int64_t n_tok = static_cast<int64_t>(pos.size());
  const std::vector<float> x = RandomFloats(n_tok * n_heads * head_dim, rng);
  std::vector<float> got = x, want = x;
  be.Rope(got.data(), n_tok, n_heads, head_dim, pos.data(), p);
  ref::Rope(want.data(), n_tok, n_heads, head_dim, pos.data(), p);
  for (int64_t v = 0; v < n_tok * n_heads; ++v) {
    for (int d = 0; d < head_dim; ++d) {
      const size_t i = static_cast<size_t>(v * head_dim + d);
      if (d >= p.rope_dim) {
        ASSERT_EQ(got[i], x[i]) << "dim " << d << " is past rope_dim " << p.rope_dim;
        continue;
      }
      const int pair = p.interleaved ? d / 2 : d % (p.rope_dim / 2);
      const int ia = p.interleaved ? 2 * pair : pair, ib = p.interleaved ? 2 * pair + 1 : pair + p.rope_dim / 2;
      const double mag = std::fabs(x[static_cast<size_t>(v * head_dim + ia)]) + std::fabs(x[static_cast<size_t>(v * head_dim + ib)]);
      ASSERT_NEAR(got[i], want[i], 4 * kEps * mag + 1e-30) << "vector " << v << " dim " << d;
    }
  }
  // Position 0 is the identity.
  for (int d = 0; d < n_heads * head_dim; ++d) ASSERT_EQ(got[static_cast<size_t>(d)], x[static_cast<size_t>(d)]);
}

TEST_P(OpsTest, RopeBothConventionsPartialAndLlama3) {
  RopeParams p;
  p.rope_dim = 64;
  p.theta = 10000.f;
  for (bool interleaved : {true, false}) {
    p.interleaved = interleaved;
    CheckRope(*be_, p, 64, rng_);
    RopeParams partial = p;
    partial.rope_dim = 32;  // partial rotary: first 32 of 80 dims
    CheckRope(*be_, partial, 80, rng_);
    RopeParams llama3 = p;
    llama3.rope_dim = 128;
    llama3.theta = 500000.f;
    llama3.scale_factor = 8.f;
    llama3.low_freq_factor = 1.f;
    llama3.high_freq_factor = 4.f;
    llama3.original_context = 8192;
    CheckRope(*be_, llama3, 128, rng_);
  }
}

// The llama3 frequency rule (Hugging Face _compute_llama3_parameters) written out once more.
TEST(Rope, Llama3InverseFrequencies) {
  RopeParams p;
  p.rope_dim = 128;
  p.theta = 500000.f;
  p.scale_factor = 8.f;
  p.low_freq_factor = 1.f;
  p.high_freq_factor = 4.f;
  p.original_context = 8192;
  int scaled = 0, kept = 0, smoothed = 0;
  for (int i = 0; i < 64; ++i) {
    const double base = std::pow(500000.0, -2.0 * i / 128);
    const double wavelen = 2 * std::numbers::pi / base;
    double want;
    if (wavelen < 8192.0 / 4) {
      want = base, ++kept;
    } else if (wavelen > 8192.0 / 1) {
      want = base / 8, ++scaled;
    } else {
      const double s = (8192.0 / wavelen - 1) / (4 - 1);
      want = (1 - s) * base / 8 + s * base, ++smoothed;
    }
    EXPECT_FLOAT_EQ(ref::RopeInvFreq(p, i), static_cast<float>(want)) << i;
  }
  EXPECT_GT(scaled, 0);
  EXPECT_GT(kept, 0);
  EXPECT_GT(smoothed, 0);
  RopeParams plain = p;
  plain.scale_factor = 0.f;
  EXPECT_FLOAT_EQ(ref::RopeInvFreq(plain, 10), static_cast<float>(std::pow(500000.0, -20.0 / 128)));
  RopeParams linear = plain;  // transformers' "linear" type: inv_freq / factor
  linear.linear_factor = 8.f;
  EXPECT_FLOAT_EQ(ref::RopeInvFreq(linear, 10), static_cast<float>(std::pow(500000.0, -20.0 / 128) / 8));
}

// Attention error: each score q.k*scale carries at most (hd/16 + 8) 2 eps * sum|q_i k_i| *
// scale (f32 dot in 16 lanes); a score error e changes the softmax weights by a factor
// within e^{+-2e}, so out moves by <= 4 e max|v|; exp (2 ulp), normalization and the f32
// accumulation over n_keys add <= (n_keys + 8) eps max|v|.
void CheckAttention(Backend& be, int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv, int hd, std::mt19937& rng,
                    int64_t window = 0) {
  const std::vector<float> q = RandomFloats(n_tok * n_heads * hd, rng, 2.f);
  const std::vector<float> k = RandomFloats(n_ctx * n_kv * hd, rng, 2.f);
  const std::vector<float> v = RandomFloats(n_ctx * n_kv * hd, rng);
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  std::vector<float> got(q.size(), NAN), want(q.size());
  be.Attention(q.data(), k.data(), v.data(), n_tok, n_ctx, n_heads, n_kv, hd, scale, window, got.data());
  ref::Attention(q.data(), k.data(), v.data(), n_tok, n_ctx, n_heads, n_kv, hd, scale, window, want.data());
  double vmax = 0.0, qk = 0.0;
  for (float x : v) vmax = std::max(vmax, std::fabs(static_cast<double>(x)));
  double qmax = 0.0, kmax = 0.0;
  for (float x : q) qmax = std::max(qmax, std::fabs(static_cast<double>(x)));
  for (float x : k) kmax = std::max(kmax, std::fabs(static_cast<double>(x)));
  qk = hd * qmax * kmax * scale;
  const double score_err = (hd / 16.0 + 8) * 2 * kEps * qk;
  const double tol = 4 * score_err * vmax + (n_ctx + 8) * kEps * vmax;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol) << "n_tok " << n_tok << " n_ctx " << n_ctx << " hd " << hd << " window " << window
                                 << " at " << i;
  }
}

TEST_P(OpsTest, AttentionCausalGqa) {
  CheckAttention(*be_, 1, 1, 8, 2, 64, rng_);      // first token sees only itself
  CheckAttention(*be_, 1, 300, 8, 2, 64, rng_);    // decode with a cache
  CheckAttention(*be_, 7, 7, 6, 3, 80, rng_);      // prefill, head_dim not a multiple of 16
  CheckAttention(*be_, 5, 40, 9, 3, 64, rng_);     // chunked prefill after 35 cached tokens
  CheckAttention(*be_, 3, 1000, 4, 4, 128, rng_);  // no grouping, longer context
  CheckAttention(*be_, 1, 2500, 8, 2, 64, rng_);   // decode: keys split into ranges, combined
  CheckAttention(*be_, 2, 1100, 16, 1, 80, rng_);  // 16 heads on one kv head, split keys
}

TEST_P(OpsTest, AttentionSlidingWindow) {
  CheckAttention(*be_, 64, 64, 4, 2, 32, rng_, 8);      // prefill, window much shorter than the context
  CheckAttention(*be_, 5, 40, 6, 3, 64, rng_, 7);       // chunked prefill after 35 cached tokens
  CheckAttention(*be_, 1, 300, 8, 2, 64, rng_, 16);     // decode with a cache
  CheckAttention(*be_, 1, 3000, 8, 2, 64, rng_, 2100);  // decode: windowed keys split into ranges
  CheckAttention(*be_, 3, 3, 2, 1, 16, rng_, 1);        // each token sees only itself
  CheckAttention(*be_, 9, 20, 4, 2, 16, rng_, 500);     // window longer than the context: causal
}

// Keys outside the window get no weight: with one dominant key outside it, the output is still
// the average of the values inside.
TEST_P(OpsTest, AttentionWindowExcludesOldKeys) {
  const int hd = 16;
  const int64_t n_ctx = 6, window = 2;
  std::vector<float> q(hd, 1.f), k(static_cast<size_t>(n_ctx * hd), 0.f), v(static_cast<size_t>(n_ctx * hd), 0.f);
  for (int d = 0; d < hd; ++d) k[static_cast<size_t>(d)] = 10.f;  // key 0 would dominate
  for (int64_t j = 0; j < n_ctx; ++j) {
    for (int d = 0; d < hd; ++d) v[static_cast<size_t>(j * hd + d)] = static_cast<float>(j);
  }
  std::vector<float> out(hd);
  be_->Attention(q.data(), k.data(), v.data(), 1, n_ctx, 1, 1, hd, 1.f, window, out.data());
  for (int d = 0; d < hd; ++d) EXPECT_FLOAT_EQ(out[static_cast<size_t>(d)], 4.5f);  // keys 4 and 5
}

// Each token's keys are split by shape only, so any thread count gives the same bits.
TEST_P(OpsTest, AttentionIsBitwiseDeterministic) {
  const int64_t n_ctx = 1500;
  const int heads = 6, kv = 2, hd = 64;
  for (int64_t n_tok : {1, 5}) {
    const std::vector<float> q = RandomFloats(n_tok * heads * hd, rng_), k = RandomFloats(n_ctx * kv * hd, rng_),
                             v = RandomFloats(n_ctx * kv * hd, rng_);
    std::vector<float> outs[3];
    int i = 0;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      auto be = MakeCpuBackend(pool, CpuBackendOptions{GetParam()});
      outs[i].assign(q.size(), 0.f);
      be->Attention(q.data(), k.data(), v.data(), n_tok, n_ctx, heads, kv, hd, 0.125f, 0, outs[i].data());
      ++i;
    }
    EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[1].data(), q.size() * sizeof(float))) << n_tok;
    EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[2].data(), q.size() * sizeof(float))) << n_tok;
  }
}

// A query seeing one key returns that key's value; equal scores average the values.
TEST_P(OpsTest, AttentionSemantics) {
  const int hd = 16;
  std::vector<float> q(hd, 0.f), k(2 * hd, 0.f), v(2 * hd);
  for (int d = 0; d < hd; ++d) v[static_cast<size_t>(d)] = static_cast<float>(d), v[static_cast<size_t>(hd + d)] = 100.f;
  std::vector<float> out(hd);
  be_->Attention(q.data(), k.data(), v.data(), 1, 1, 1, 1, hd, 1.f, 0, out.data());
  for (int d = 0; d < hd; ++d) EXPECT_FLOAT_EQ(out[static_cast<size_t>(d)], static_cast<float>(d));
  be_->Attention(q.data(), k.data(), v.data(), 1, 2, 1, 1, hd, 1.f, 0, out.data());
  for (int d = 0; d < hd; ++d) EXPECT_FLOAT_EQ(out[static_cast<size_t>(d)], (static_cast<float>(d) + 100.f) / 2);
}

// silu(g) * u: exp within 2 ulp, then a sum, a division and a product: <= 8 eps relative.
TEST_P(OpsTest, SwiGluMatchesReference) {
  std::vector<float> g = RandomFloats(1000, rng_, 4.f);
  g[0] = -100.f, g[1] = 100.f, g[2] = 0.f, g[3] = -20.f;
  const std::vector<float> u = RandomFloats(1000, rng_);
  for (int64_t n : {1000, 999, 1 << 17}) {
    std::vector<float> gg(static_cast<size_t>(n)), uu(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) gg[static_cast<size_t>(i)] = g[static_cast<size_t>(i % 1000)], uu[static_cast<size_t>(i)] = u[static_cast<size_t>(i % 997)];
    std::vector<float> got = gg, want(gg.size());
    be_->SwiGlu(got.data(), uu.data(), n, got.data());  // in place
    ref::SwiGlu(gg.data(), uu.data(), n, want.data());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 8 * kEps * std::fabs(want[i]) + 1e-30) << n << " " << i;
  }
}

// Gemma's RMSNorm multiplies by (1 + w): the offset is added to the f32 weight first, so the
// result is exactly RmsNorm with the weight w + 1 rounded to f32.
TEST_P(OpsTest, RmsNormWeightOffsetEqualsShiftedWeight) {
  const int64_t n = 640, n_tok = 3;
  const std::vector<float> x = RandomFloats(n_tok * n, rng_, 3.f);
  std::vector<float> w = RandomFloats(n, rng_), w1 = w;
  for (float& v : w1) v += 1.f;
  const TensorView wv{reinterpret_cast<const std::byte*>(w.data()), DType::kF32, MakeShape({n})};
  const TensorView w1v{reinterpret_cast<const std::byte*>(w1.data()), DType::kF32, MakeShape({n})};
  std::vector<float> got(x.size()), want(x.size()), ref_got(x.size());
  be_->RmsNorm(x.data(), wv, n_tok, n, 1e-6f, 1.f, got.data());
  be_->RmsNorm(x.data(), w1v, n_tok, n, 1e-6f, 0.f, want.data());
  EXPECT_EQ(got, want);
  ref::RmsNorm(x.data(), wv, n_tok, n, 1e-6f, 1.f, ref_got.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got[i], ref_got[i], 1e-5 * std::fabs(ref_got[i]) + 1e-30) << i;
}

// Straightforward double-precision formulas, independent of the backend: gelu_tanh, x*s and
// cap*tanh(x/cap) against hand-derived values; then the backend (threaded, in place) against them.
TEST_P(OpsTest, GeluTanhGluScaleSoftCapMatchFormulas) {
  const float g[] = {0.f, 1.f, -1.f, 3.f, -6.f};
  const float u[] = {2.f, 2.f, 2.f, 1.f, 1.f};
  // 0.5 g (1 + tanh(0.7978845608 (g + 0.044715 g^3))) * u, evaluated by hand.
  const double want_gelu[] = {0.0, 2 * 0.8411919906, 2 * -0.1588080094, 2.9963626079, -6.0 * 0.5 * (1 + std::tanh(0.7978845608028654 * (-6.0 - 0.044715 * 216.0)))};
  std::vector<float> out(5);
  be_->GeluTanhGlu(g, u, 5, out.data());
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[static_cast<size_t>(i)], want_gelu[i], 1e-6 * (1 + std::fabs(want_gelu[i]))) << i;
  be_->Scale(g, 25.298221f, 5, out.data());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[static_cast<size_t>(i)], g[i] * 25.298221f) << i;
  std::vector<float> capped = {0.f, 30.f, -3000.f, 1.f};
  be_->SoftCap(capped.data(), 4, 30.f);
  EXPECT_EQ(capped[0], 0.f);
  EXPECT_NEAR(capped[1], 30.0 * std::tanh(1.0), 1e-5);
  EXPECT_NEAR(capped[2], -30.0, 1e-5);
  EXPECT_NEAR(capped[3], 30.0 * std::tanh(1.0 / 30), 1e-7);
  for (int64_t n : {999, 1 << 17}) {
    const std::vector<float> gg = RandomFloats(n, rng_, 4.f), uu = RandomFloats(n, rng_);
    std::vector<float> got = gg, want(static_cast<size_t>(n));
    be_->GeluTanhGlu(got.data(), uu.data(), n, got.data());  // in place
    ref::GeluTanhGlu(gg.data(), uu.data(), n, want.data());
    EXPECT_EQ(got, want) << n;
    got = gg;
    be_->SoftCap(got.data(), n, 2.f);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], 2.0 * std::tanh(gg[i] / 2.0), 2e-7) << i;
  }
}

TEST_P(OpsTest, AddIsExact) {
  for (int64_t n : {1, 17, 1 << 17}) {
    const std::vector<float> a = RandomFloats(n, rng_), b = RandomFloats(n, rng_);
    std::vector<float> got = a;
    be_->Add(got.data(), b.data(), n, got.data());  // in place
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], a[static_cast<size_t>(i)] + b[static_cast<size_t>(i)]);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, OpsTest, ::testing::ValuesIn(testing::TestIsas()),
                         [](const ::testing::TestParamInfo<CpuIsa>& info) { return IsaName(info.param); });

// FS_CPU_ISA selects the kernels of MakeCpuBackend(pool).
TEST(CpuBackend, EnvironmentSelectsIsa) {
  ThreadPool pool(1);
  const char* env = std::getenv("FS_CPU_ISA");
  const std::string name = MakeCpuBackend(pool)->Name();
  if (env != nullptr && std::string(env) == "generic") {
    EXPECT_EQ(name, "cpu-generic");
  } else {
    EXPECT_EQ(name, CpuIsaAvailable(CpuIsa::kAvx512) ? "cpu-avx512" : "cpu-generic");
  }
}

}  // namespace
}  // namespace flashstream
