// MatMul of every weight dtype on both CPU instruction sets against the scalar reference,
// plus the determinism guarantees: repeatable, thread-count independent, independent of the
// weight's address and alignment, and of how many tokens share the call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
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

struct Case {
  DType dtype;
  int64_t n_out;
  int64_t n_in;
};

// Shapes per dtype: odd n_out (a 4-row tile plus a remainder), and n_in covering whole
// 512-value kernel groups, partial groups and (for 32-blocks) an odd number of blocks.
std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1}) {
    for (int64_t n_in : {96, 544, 1024}) cases.push_back({t, 37, n_in});
  }
  for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (int64_t n_in : {256, 768, 1024}) cases.push_back({t, 37, n_in});
  }
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t n_in : {40, 96, 1024}) cases.push_back({t, 37, n_in});
  }
  // 7B-like row lengths (11008 = 21.5 groups of 512, 43 super-blocks).
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kF16}) {
    cases.push_back({t, 9, 11008});
  }
  return cases;
}

std::vector<float> RunMatMul(Backend& be, const TensorView& w, const std::vector<float>& x, int64_t n_tok) {
  std::vector<float> y(static_cast<size_t>(n_tok * w.rows()), NAN);
  be.MatMul(w, x.data(), n_tok, y.data());
  return y;
}

// Checks y against the exact product of the weights with the activations the kernel saw.
//
// Float weights: y = sum_i w_i x_i in f32, accumulated in 16 lanes over n_in/16 steps and a
// lane reduction: |error| <= (n_in/16 + 8) * 2^-24 * sum_i |w_i x_i|; we allow twice that.
//
// Quantized weights: x is first quantized per 32 values to xhat_i = d_b * q_i with
// d_b = max_b|x| / 127 / 256^(L-1) for L levels (ref::QuantizeActivations), so
// |xhat_i - x_i| <= d_b / 2 plus the rounding of x * (1/top) * 256^(L-1) (|q| <= 127 * 256^(L-1)
// times 2^-23: negligible for one level, up to d_b for three). Integer dot products are exact; the f32 work
// per term (scale products, conversion, accumulation over n_in/64 steps, offset terms
// o * d * sum(q)) is bounded like the float case by (n_in/64 + 8) * 2^-23 * S with
// S = sum_i |xhat_i| (|w_i| + 2 max_row|w|), where the second term bounds the format's
// per-block offsets (128 d for Q8_0, 8 d for Q4_0, the min for Q4_1, dmin * m for K-quants,
// 32 d * scale for Q6_K), each at most about the row's largest |w|.
//  (tight)  |y - sum_i w_i xhat_i| <= (n_in/64 + 8) * 2^-23 * S
//  (loose)  |y - sum_i w_i x_i|    <= sum_b 0.5001 d_b sum_{i in b} |w_i|  + tight bound
// With L activation levels d_b = max_b|x| / 127 / 256^(L-1) (the bounds take the same form).
void ExpectWithinBounds(const TensorView& w, const std::vector<float>& x, int64_t n_tok, int levels,
                        const std::vector<float>& y, const std::string& what) {
  const int64_t n_out = w.rows(), n_in = w.cols();
  std::vector<float> row(static_cast<size_t>(n_in));
  std::vector<int32_t> q(static_cast<size_t>(n_in));
  std::vector<float> d(static_cast<size_t>(n_in / 32 + 1));
  const bool quantized = IsQuantized(w.dtype);
  int failures = 0;
  for (int64_t r = 0; r < n_out && failures < 5; ++r) {
    DequantizeRow(w.dtype, w.row(r), row.data(), n_in);
    double wmax = 0.0;
    for (float v : row) wmax = std::max(wmax, std::fabs(static_cast<double>(v)));
    for (int64_t t = 0; t < n_tok; ++t) {
      const float* xt = x.data() + t * n_in;
      const double got = y[static_cast<size_t>(t * n_out + r)];
      double exact = 0.0, mag = 0.0;
      for (int64_t i = 0; i < n_in; ++i) {
        exact += static_cast<double>(row[i]) * xt[i];
        mag += std::fabs(static_cast<double>(row[i]) * xt[i]);
      }
      if (!quantized) {
        const double tol = 2.0 * (n_in / 16.0 + 8) * std::ldexp(1.0, -24) * mag;
        if (!(std::fabs(got - exact) <= tol)) {
          ADD_FAILURE() << what << " row " << r << " tok " << t << ": " << got << " vs " << exact << " tol " << tol;
          ++failures;
        }
        continue;
      }
      ref::QuantizeActivations(xt, n_in, levels, q.data(), d.data());
      // Rounding to the nearest q, plus x * (1/top) * 2^(8 (L-1)) rounded relatively by up to 2^-23.
      const double q_err = 0.5001 + 127.0 * std::ldexp(1.0, 8 * (levels - 1) - 22);
      double exact_q = 0.0, s = 0.0, quant_err = 0.0;
      for (int64_t i = 0; i < n_in; ++i) {
        const double xhat = static_cast<double>(d[i / 32]) * q[i];
        exact_q += row[i] * xhat;
        s += std::fabs(xhat) * (std::fabs(row[i]) + 2.0 * wmax);
        quant_err += q_err * d[i / 32] * std::fabs(row[i]);
      }
      const double tight = (n_in / 64.0 + 8) * std::ldexp(1.0, -23) * s;
      if (!(std::fabs(got - exact_q) <= tight) || !(std::fabs(got - exact) <= quant_err + tight)) {
        ADD_FAILURE() << what << " row " << r << " tok " << t << ": got " << got << ", exact(q) " << exact_q
                      << " tol " << tight << ", exact " << exact << " tol " << quant_err + tight;
        ++failures;
      }
    }
  }
}

// (isa, case, int8 activation levels); levels only matter for the quantized dtypes.
class MatMulTest : public ::testing::TestWithParam<std::tuple<CpuIsa, Case, int>> {};

TEST_P(MatMulTest, MatchesReferenceWithinBounds) {
  const auto [isa, c, levels] = GetParam();
  FS_SKIP_IF_ISA_MISSING(isa);
  ThreadPool pool(2);
  auto be = MakeCpuBackend(pool, CpuBackendOptions{isa, true, levels});
  std::mt19937 rng(static_cast<unsigned>(c.n_in * 131 + static_cast<int>(c.dtype)));
  Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
  for (int64_t n_tok : {1, 3, 17, 64}) {
    std::vector<float> x = RandomFloats(n_tok * c.n_in, rng);
    x[0] = 8.f;  // an outlier: blocks with a large max quantize the rest coarsely
    const std::vector<float> y = RunMatMul(*be, w.view(), x, n_tok);
    ExpectWithinBounds(w.view(), x, n_tok, levels, y, std::string(Name(c.dtype)) + " n_tok " + std::to_string(n_tok));
  }
}

TEST_P(MatMulTest, BitwiseDeterministic) {
  const auto [isa, c, levels] = GetParam();
  FS_SKIP_IF_ISA_MISSING(isa);
  std::mt19937 rng(7);
  Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
  const int64_t n_tok = 17;
  const std::vector<float> x = RandomFloats(n_tok * c.n_in, rng);

  ThreadPool pool1(1), pool2(2), pool3(3);
  auto be1 = MakeCpuBackend(pool1, CpuBackendOptions{isa, true, levels});
  auto be2 = MakeCpuBackend(pool2, CpuBackendOptions{isa, true, levels});
  auto be3 = MakeCpuBackend(pool3, CpuBackendOptions{isa, true, levels});
  const std::vector<float> ref = RunMatMul(*be2, w.view(), x, n_tok);
  const auto same = [&](const std::vector<float>& y, const char* what) {
    ASSERT_EQ(0, std::memcmp(ref.data(), y.data(), ref.size() * sizeof(float))) << what;
  };
  same(RunMatMul(*be2, w.view(), x, n_tok), "repeat");
  // Each output row is owned by one thread and computed the same way whatever the split.
  same(RunMatMul(*be1, w.view(), x, n_tok), "1 thread");
  same(RunMatMul(*be3, w.view(), x, n_tok), "3 threads");
  // GGUF tensor data is only 32-byte aligned and staging buffers may be anywhere.
  for (size_t misalign : {0, 1, 3, 32, 37}) {
    Weights copy = w.CopyAt(misalign);
    same(RunMatMul(*be2, copy.view(), x, n_tok), "copy");
  }
  // A token's result does not depend on the other tokens of the call (decode == prefill).
  for (int64_t t : {0, 5, 16}) {
    const std::vector<float> xt(x.begin() + t * c.n_in, x.begin() + (t + 1) * c.n_in);
    const std::vector<float> yt = RunMatMul(*be2, w.view(), xt, 1);
    ASSERT_EQ(0, std::memcmp(ref.data() + t * c.n_out, yt.data(), yt.size() * sizeof(float))) << "token " << t;
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::tuple<CpuIsa, Case, int>>& info) {
  const auto& [isa, c, levels] = info.param;
  return IsaName(isa) + "_" + std::string(Name(c.dtype)) + "_" + std::to_string(c.n_out) + "x" +
         std::to_string(c.n_in) + (levels > 1 ? "_int8x" + std::to_string(levels) : "");
}

std::vector<Case> QuantizedCases() {
  std::vector<Case> cases;
  for (const Case& c : Cases()) {
    if (IsQuantized(c.dtype)) cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, MatMulTest,
                         ::testing::Combine(::testing::ValuesIn(testing::TestIsas()), ::testing::ValuesIn(Cases()),
                                            ::testing::Values(1)),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(Int8Levels, MatMulTest,
                         ::testing::Combine(::testing::ValuesIn(testing::TestIsas()),
                                            ::testing::ValuesIn(QuantizedCases()), ::testing::Values(2, 3)),
                         CaseName);

// The two instruction sets quantize activations identically and differ only in f32
// summation order, so they agree far more tightly than either agrees with f32 activations.
TEST(MatMulCrossIsa, GenericAndAvx512Agree) {
  if (!CpuIsaAvailable(CpuIsa::kAvx512)) GTEST_SKIP() << "this CPU lacks avx512";
  ThreadPool pool(2);
  for (int levels : {1, 2, 3}) {
    auto gen = MakeCpuBackend(pool, CpuBackendOptions{CpuIsa::kGeneric, true, levels});
    auto avx = MakeCpuBackend(pool, CpuBackendOptions{CpuIsa::kAvx512, true, levels});
    std::mt19937 rng(3);
    for (const Case& c : Cases()) {
      Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
      const std::vector<float> x = RandomFloats(5 * c.n_in, rng);
      const std::vector<float> a = RunMatMul(*gen, w.view(), x, 5), b = RunMatMul(*avx, w.view(), x, 5);
      double max_abs = 0.0;
      for (float v : a) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_NEAR(a[i], b[i], 1e-4 * max_abs + 1e-6)
            << Name(c.dtype) << " n_in " << c.n_in << " at " << i << " levels " << levels;
      }
    }
  }
}

}  // namespace
}  // namespace flashstream
