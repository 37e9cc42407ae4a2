// CUDA RmsNorm, Rope, Attention, SwiGlu and Add against the CPU backend on
// random inputs. Bounds follow the operations' f32 rounding (u = 2^-24), as in
// tests/backend/ops_test.cpp: the GPU kernels use the CPU's rounding sequence
// where it has one (RmsNorm's double sum, RoPE's double cos/sin, element-wise
// ops), so only the CPU's SIMD variants and expf's last bits separate them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "cuda_test_util.h"

namespace flashstream {
namespace {

using testing::CudaVsCpuTest;
using testing::DeviceVec;
using testing::RandomFloats;
using testing::RelNorm;

constexpr double kU = 1.0 / (1 << 24);

using CudaOpsTest = CudaVsCpuTest;

TEST_F(CudaOpsTest, RmsNormInPlaceAndOutOfPlace) {
  for (int64_t n_tok : {1, 17}) {
    for (int64_t n : {100, 576, 4096}) {
      const std::vector<float> x = RandomFloats(n_tok * n, rng_);
      const std::vector<float> w = RandomFloats(n, rng_);
      const TensorView hw{reinterpret_cast<const std::byte*>(w.data()), DType::kF32, MakeShape({n})};
      std::vector<float> want(x.size());
      cpu_->RmsNorm(x.data(), hw, n_tok, n, 1e-5f, 0.f, want.data());
      DeviceVec<float> dx(x), dw(w), dout(std::vector<float>(x.size(), NAN));
      TensorView dv = hw;
      dv.data = reinterpret_cast<const std::byte*>(dw.data());
      gpu_->RmsNorm(dx.data(), dv, n_tok, n, 1e-5f, 0.f, dout.data());
      gpu_->RmsNorm(dx.data(), dv, n_tok, n, 1e-5f, 0.f, dx.data());  // aliasing
      const std::vector<float> got = dout.Download(), inplace = dx.Download();
      for (size_t i = 0; i < want.size(); ++i) {
        // The GPU sums squares in double; the CPU's AVX-512 kernel in 16 f32 lanes, whose sum
        // errs by up to (n / 16 + 8) u relative, half of that in the inverse norm, plus the
        // two products' roundings: the bound of the CPU's own test against the double reference.
        const double rel = 2.0 * ((static_cast<double>(n) / 16 + 8) / 2 + 3) * kU;
        ASSERT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + 1e-30) << n_tok << " " << n << " " << i;
        ASSERT_EQ(got[i], inplace[i]) << i;
      }
    }
  }
}

TEST_F(CudaOpsTest, RopeConventionsPartialAndLlama3) {
  RopeParams plain;
  plain.theta = 10000.f;
  for (bool interleaved : {true, false}) {
    for (int head_dim : {64, 80, 128}) {
      RopeParams p = plain;
      p.interleaved = interleaved;
      p.rope_dim = head_dim == 80 ? 32 : head_dim;  // partial rotation on 80
      if (head_dim == 128) {                        // llama3 scaling
        p.theta = 500000.f;
        p.scale_factor = 8.f;
        p.low_freq_factor = 1.f;
        p.high_freq_factor = 4.f;
        p.original_context = 8192;
      }
      const int n_heads = 3;
      for (int64_t n_tok : {1, 17}) {
        std::vector<int32_t> pos(static_cast<size_t>(n_tok));
        for (int64_t t = 0; t < n_tok; ++t) pos[static_cast<size_t>(t)] = static_cast<int32_t>(4000 + 37 * t);
        const std::vector<float> x = RandomFloats(n_tok * n_heads * head_dim, rng_);
        std::vector<float> want = x;
        cpu_->Rope(want.data(), n_tok, n_heads, head_dim, pos.data(), p);
        DeviceVec<float> dx(x);
        DeviceVec<int32_t> dpos(pos);
        const bool device_pos = n_tok == 17;  // host positions for one token, device for 17
        gpu_->Rope(dx.data(), n_tok, n_heads, head_dim, device_pos ? dpos.data() : pos.data(), p);
        const std::vector<float> got = dx.Download();
        for (size_t i = 0; i < want.size(); ++i) {
          // Same f32 angle, (cos, sin) from double rounded to f32, then a*c -
          // b*s rounded as the CPU does: equal up to a last-bit difference of
          // the double cos/sin.
          const size_t pair_base = i - i % static_cast<size_t>(head_dim);
          double mag = 0;
          for (int d = 0; d < head_dim; ++d) mag = std::max(mag, std::fabs(static_cast<double>(x[pair_base + d])));
          ASSERT_NEAR(got[i], want[i], 4 * kU * mag + 1e-30)
              << "interleaved " << interleaved << " head_dim " << head_dim << " n_tok " << n_tok << " i " << i;
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, CausalGqaAttention) {
  struct Case {
    int64_t n_tok, past;
    int n_heads, n_kv_heads, head_dim;
    int64_t window;  // 0 = none
  };
  for (const Case& c :
       {Case{1, 0, 4, 4, 64, 0}, Case{1, 1500, 8, 2, 128, 0}, Case{17, 0, 6, 2, 80, 0}, Case{17, 50, 8, 1, 64, 0},
        Case{5, 3, 2, 1, 256, 0}, Case{1, 1500, 8, 2, 128, 512}, Case{17, 50, 8, 1, 64, 8}, Case{17, 0, 6, 2, 80, 1},
        // 32 tokens or more: the GEMM path (scores, causal softmax, products)
        Case{100, 0, 8, 2, 128, 0}, Case{64, 30, 6, 2, 80, 0}, Case{100, 20, 8, 1, 64, 16}, Case{40, 0, 4, 4, 256, 0},
        // 256 or more: in 4 blocks of queries, each against the keys it sees
        Case{300, 20, 8, 2, 128, 0}, Case{257, 0, 4, 1, 64, 40}}) {
    const int64_t n_ctx = c.n_tok + c.past;
    const std::vector<float> q = RandomFloats(c.n_tok * c.n_heads * c.head_dim, rng_);
    const std::vector<float> k = RandomFloats(n_ctx * c.n_kv_heads * c.head_dim, rng_);
    const std::vector<float> v = RandomFloats(n_ctx * c.n_kv_heads * c.head_dim, rng_);
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> want(q.size(), NAN);
    cpu_->Attention(q.data(), k.data(), v.data(), c.n_tok, n_ctx, c.n_heads, c.n_kv_heads, c.head_dim, scale, c.window,
                    want.data());
    DeviceVec<float> dq(q), dk(k), dv(v), dout(std::vector<float>(q.size(), NAN));
    gpu_->Attention(dq.data(), dk.data(), dv.data(), c.n_tok, n_ctx, c.n_heads, c.n_kv_heads, c.head_dim, scale,
                    c.window, dout.data());
    const std::vector<float> got = dout.Download();
    double vmax = 0;
    for (float f : v) vmax = std::max(vmax, std::fabs(static_cast<double>(f)));
    // Scores |q.k| * scale ~ a few units: each side's f32 dot over head_dim
    // products errs by
    // <= head_dim u |q||k| scale, giving relative weight errors e of that size
    // after exp; the output is a convex combination of v, so it moves by <= 2 e
    // vmax, plus n_ctx u vmax for the weighted sum's own rounding.
    double qk = 0;
    for (float f : q) qk = std::max(qk, std::fabs(static_cast<double>(f)));
    double kmax = 0;
    for (float f : k) kmax = std::max(kmax, std::fabs(static_cast<double>(f)));
    const double score_err = 2.0 * c.head_dim * kU * qk * kmax * scale;
    const double tol = 4 * score_err * vmax + (n_ctx + 8) * kU * vmax;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tol) << "n_tok " << c.n_tok << " n_ctx " << n_ctx << " i " << i;
    }
    EXPECT_LT(RelNorm(got, want), 1e-5);
  }
}

// SetTokenwise(true): 40 queries (the GEMM path otherwise) give each query the bits of a
// one-query call over the keys it sees.
TEST_F(CudaOpsTest, TokenwiseAttentionEqualsOneQueryCallsBitwise) {
  const int64_t n_tok = 40, past = 30, n_ctx = n_tok + past;
  const int n_heads = 8, n_kv_heads = 2, head_dim = 64;
  const int64_t row = n_heads * head_dim, kv_row = n_kv_heads * head_dim;
  const std::vector<float> q = RandomFloats(n_tok * row, rng_);
  DeviceVec<float> dq(q), dk(RandomFloats(n_ctx * kv_row, rng_)), dv(RandomFloats(n_ctx * kv_row, rng_));
  DeviceVec<float> all(std::vector<float>(q.size(), NAN)), one(std::vector<float>(q.size(), NAN));
  const float scale = 0.125f;
  gpu_->SetTokenwise(true);
  gpu_->Attention(dq.data(), dk.data(), dv.data(), n_tok, n_ctx, n_heads, n_kv_heads, head_dim, scale, 0, all.data());
  gpu_->SetTokenwise(false);
  for (int64_t i = 0; i < n_tok; ++i) {
    gpu_->Attention(dq.data() + i * row, dk.data(), dv.data(), 1, past + i + 1, n_heads, n_kv_heads, head_dim, scale, 0,
                    one.data() + i * row);
  }
  const std::vector<float> a = all.Download(), b = one.Download();
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

// With bf16 activations, prompts of 32 or more tokens run the one-kernel bf16 attention (head_dim 64 and
// 128; others keep the TF32 products): q, k, v and the probabilities rounded to bf16 (relative error
// 2^-9 each), so the output stays within a few 1e-3 of the f32 result in relative norm.
TEST_F(CudaOpsTest, PromptAttentionOnBf16TensorCores) {
  std::unique_ptr<Backend> bf16 = MakeCudaBackend(0, CudaBackendOptions{true});
  struct Case {
    int64_t n_tok, past;
    int n_heads, n_kv_heads, head_dim;
    int64_t window;
  };
  for (const Case& c :
       {Case{100, 0, 8, 2, 128, 0}, Case{64, 30, 6, 2, 64, 0}, Case{100, 20, 8, 1, 64, 16}, Case{300, 20, 8, 2, 128, 0},
        Case{257, 0, 4, 1, 64, 40}, Case{33, 200, 4, 4, 128, 70}, Case{40, 0, 4, 4, 80, 0}}) {
    const int64_t n_ctx = c.n_tok + c.past;
    const std::vector<float> q = RandomFloats(c.n_tok * c.n_heads * c.head_dim, rng_);
    const std::vector<float> k = RandomFloats(n_ctx * c.n_kv_heads * c.head_dim, rng_);
    const std::vector<float> v = RandomFloats(n_ctx * c.n_kv_heads * c.head_dim, rng_);
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> want(q.size(), NAN);
    cpu_->Attention(q.data(), k.data(), v.data(), c.n_tok, n_ctx, c.n_heads, c.n_kv_heads, c.head_dim, scale, c.window,
                    want.data());
    DeviceVec<float> dq(q), dk(k), dv(v), dout(std::vector<float>(q.size(), NAN));
    bf16->Attention(dq.data(), dk.data(), dv.data(), c.n_tok, n_ctx, c.n_heads, c.n_kv_heads, c.head_dim, scale,
                    c.window, dout.data());
    const std::vector<float> got = dout.Download();
    for (float f : got) ASSERT_FALSE(std::isnan(f)) << "n_tok " << c.n_tok << " head_dim " << c.head_dim;
    EXPECT_LT(RelNorm(got, want), 1e-2) << "n_tok " << c.n_tok << " n_ctx " << n_ctx << " head_dim " << c.head_dim;
  }
}

TEST_F(CudaOpsTest, SwiGluAndAdd) {
  for (int64_t n : {1, 1000, 11008 * 17}) {
    const std::vector<float> g = RandomFloats(n, rng_, 3.f), u = RandomFloats(n, rng_);
    std::vector<float> want_sw(g.size()), want_add(g.size());
    cpu_->SwiGlu(g.data(), u.data(), n, want_sw.data());
    cpu_->Add(g.data(), u.data(), n, want_add.data());
    DeviceVec<float> dg(g), du(u), dadd(std::vector<float>(g.size(), NAN));
    gpu_->Add(dg.data(), du.data(), n, dadd.data());
    gpu_->SwiGlu(dg.data(), du.data(), n, dg.data());  // in place
    const std::vector<float> sw = dg.Download(), add = dadd.Download();
    for (size_t i = 0; i < g.size(); ++i) {
      // expf within 2 ulp on the GPU and the CPU's SIMD exp within a few: 8 u
      // relative, as the CPU's own test allows against the double reference.
      ASSERT_NEAR(sw[i], want_sw[i], 8 * kU * std::fabs(want_sw[i]) + 1e-30) << n << " " << i;
      ASSERT_EQ(add[i], want_add[i]) << n << " " << i;  // one correctly rounded addition
    }
  }
}

TEST_F(CudaOpsTest, RmsNormHalfWeightsAndGemmaOffset) {
  const int64_t n_tok = 5, n = 640;
  const std::vector<float> x = RandomFloats(n_tok * n, rng_);
  const std::vector<float> wf = RandomFloats(n, rng_);
  std::vector<uint16_t> wb(static_cast<size_t>(n));
  FloatToBF16Row(wf.data(), wb.data(), n);
  const TensorView hw{reinterpret_cast<const std::byte*>(wb.data()), DType::kBF16, MakeShape({n})};
  std::vector<float> want(x.size());
  cpu_->RmsNorm(x.data(), hw, n_tok, n, 1e-6f, 1.f, want.data());
  DeviceVec<float> dx(x), dout(std::vector<float>(x.size(), NAN));
  DeviceVec<uint16_t> dw(wb);
  TensorView dv = hw;
  dv.data = reinterpret_cast<const std::byte*>(dw.data());
  gpu_->RmsNorm(dx.data(), dv, n_tok, n, 1e-6f, 1.f, dout.data());
  const std::vector<float> got = dout.Download();
  for (size_t i = 0; i < want.size(); ++i) {
    const double rel = 2.0 * ((static_cast<double>(n) / 16 + 8) / 2 + 3) * kU;  // as RmsNormInPlaceAndOutOfPlace
    ASSERT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + 1e-30) << i;
  }
}

TEST_F(CudaOpsTest, GeluTanhGluScaleAndSoftCap) {
  for (int64_t n : {1, 1000, 2048 * 17}) {
    const std::vector<float> g = RandomFloats(n, rng_, 4.f), u = RandomFloats(n, rng_);
    std::vector<float> want_gelu(g.size()), want_scale(g.size()), want_cap = g;
    cpu_->GeluTanhGlu(g.data(), u.data(), n, want_gelu.data());
    cpu_->Scale(g.data(), 0.0625f, n, want_scale.data());
    cpu_->SoftCap(want_cap.data(), n, 3.f);
    DeviceVec<float> dg(g), du(u), dgelu(std::vector<float>(g.size(), NAN)), dscale(std::vector<float>(g.size(), NAN));
    gpu_->GeluTanhGlu(dg.data(), du.data(), n, dgelu.data());
    gpu_->Scale(dg.data(), 0.0625f, n, dscale.data());
    gpu_->SoftCap(dg.data(), n, 3.f);
    const std::vector<float> gelu = dgelu.Download(), scaled = dscale.Download(), cap = dg.Download();
    for (size_t i = 0; i < g.size(); ++i) {
      // tanhf within 2 ulp on each side plus the few f32 roundings of the formula: 16 u of the
      // largest term, 0.5 |g| |u|.
      const double big = 0.5 * std::fabs(g[i]) * std::fabs(u[i]) + std::fabs(want_gelu[i]);
      ASSERT_NEAR(gelu[i], want_gelu[i], 16 * kU * big + 1e-30) << n << " " << i;
      ASSERT_EQ(scaled[i], want_scale[i]) << i;  // one correctly rounded product
      ASSERT_NEAR(cap[i], want_cap[i], 8 * kU * 3.0) << i;
    }
  }
}

}  // namespace
}  // namespace flashstream
