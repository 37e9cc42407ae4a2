// The exact (f32-activation) quantized matmul of the CPU backend: accuracy against the
// double-precision reference, weights dequantized bit for bit as DequantizeRow does, and
// bitwise-equal results across thread counts, weight addresses, token counts (decode vs
// batched kernels) and instruction sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/reference_ops.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "test_util.h"

namespace flashstream {
namespace {

using testing::IsaName;
using testing::RandomFloats;
using testing::RandomWeights;
using testing::Weights;

constexpr DType kQuantized[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ5_0};

struct Case {
  DType dtype;
  int64_t n_out;
  int64_t n_in;
};

// Odd n_out (4-row tiles plus a remainder); n_in with odd block counts, and one large enough
// that a thread's rows span several dequantized panels (see ExactPanelRows).
std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (DType t : kQuantized) {
    const bool k_quant = Info(t).block_elems == 256;
    for (int64_t n_in : k_quant ? std::vector<int64_t>{256, 768, 4096} : std::vector<int64_t>{96, 544, 4096}) {
      cases.push_back({t, 37, n_in});
    }
  }
  return cases;
}

std::unique_ptr<Backend> Exact(ThreadPool& pool, CpuIsa isa) { return MakeCpuBackend(pool, CpuBackendOptions{isa, false}); }

std::vector<float> RunMatMul(Backend& be, const TensorView& w, const std::vector<float>& x, int64_t n_tok) {
  std::vector<float> y(static_cast<size_t>(n_tok * w.rows()), NAN);
  be.MatMul(w, x.data(), n_tok, y.data());
  return y;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class MatMulExactTest : public ::testing::TestWithParam<std::tuple<CpuIsa, Case>> {};

// |m| of the block holding value i of a row (Q4_0: m = -8 d; Q4_1: its min), 0 for the
// formats matmul_exact.h computes by dequantizing.
double BlockMinAbs(DType dtype, const std::byte* row, int64_t i) {
  if (dtype != DType::kQ4_0 && dtype != DType::kQ4_1) return 0.0;
  uint16_t h[2];
  std::memcpy(h, row + i / 32 * RowBytes(dtype, 32), 4);
  return dtype == DType::kQ4_1 ? std::fabs(HalfToFloat(h[1])) : 8.0 * std::fabs(HalfToFloat(h[0]));
}

// The error bound of matmul_exact.h: f32 accumulation with fewer than n_in/16 + 8 roundings
// per lane on terms bounded by sum_i (|w_i| + 2 |m_b(i)|) |x_i|; the reference (double, then
// rounded to float) adds half an ulp of its result.
TEST_P(MatMulExactTest, MatchesReferenceWithinF32Bound) {
  const auto [isa, c] = GetParam();
  FS_SKIP_IF_ISA_MISSING(isa);
  ThreadPool pool(2);
  auto be = Exact(pool, isa);
  std::mt19937 rng(static_cast<unsigned>(c.n_in * 31 + static_cast<int>(c.dtype)));
  Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
  std::vector<float> row(static_cast<size_t>(c.n_in));
  for (int64_t n_tok : {1, 3, 17, 64}) {
    std::vector<float> x = RandomFloats(n_tok * c.n_in, rng);
    x[0] = 8.f;  // an outlier: the int8 scheme would lose the rest of this block
    const std::vector<float> y = RunMatMul(*be, w.view(), x, n_tok);
    std::vector<float> want(y.size());
    ref::MatMul(w.view(), x.data(), n_tok, want.data());
    const double steps = static_cast<double>(c.n_in) / 16 + 8;
    int failures = 0;
    for (int64_t r = 0; r < c.n_out && failures < 5; ++r) {
      DequantizeRow(c.dtype, w.view().row(r), row.data(), c.n_in);
      for (int64_t t = 0; t < n_tok; ++t) {
        double mag = 0.0;
        for (int64_t i = 0; i < c.n_in; ++i) {
          mag += (std::fabs(row[i]) + 2.0 * BlockMinAbs(c.dtype, w.view().row(r), i)) * std::fabs(x[t * c.n_in + i]);
        }
        const double got = y[t * c.n_out + r], exp = want[t * c.n_out + r];
        const double tol = steps * std::ldexp(mag, -24) + std::ldexp(std::fabs(exp), -24);
        if (!(std::fabs(got - exp) <= tol)) {
          ADD_FAILURE() << Name(c.dtype) << " n_tok " << n_tok << " row " << r << " tok " << t << ": " << got
                        << " vs " << exp << " tol " << tol;
          ++failures;
        }
      }
    }
  }
}

// With x a one-hot vector every rounding but one is exact: y is the kernel's dequantized
// weight (for Q4_0/Q4_1, fl(d q + m) formed in the final lane sum), which must be
// DequantizeRow's value exactly. 17 tokens use the batched kernel, one token the decode one.
TEST_P(MatMulExactTest, DequantizesExactlyAsReference) {
  const auto [isa, c] = GetParam();
  FS_SKIP_IF_ISA_MISSING(isa);
  ThreadPool pool(2);
  auto be = Exact(pool, isa);
  std::mt19937 rng(11);
  Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
  std::vector<std::vector<float>> rows;
  for (int64_t r = 0; r < c.n_out; ++r) {
    rows.emplace_back(static_cast<size_t>(c.n_in));
    DequantizeRow(c.dtype, w.view().row(r), rows.back().data(), c.n_in);
  }
  std::vector<int64_t> hot;
  for (int64_t i = 0; i < c.n_in; i += 5) hot.push_back(i);
  hot.push_back(c.n_in - 1);
  for (size_t first = 0; first < hot.size(); first += 17) {
    const auto n_tok = static_cast<int64_t>(std::min<size_t>(17, hot.size() - first));
    std::vector<float> x(static_cast<size_t>(n_tok * c.n_in), 0.f);
    for (int64_t t = 0; t < n_tok; ++t) x[t * c.n_in + hot[first + t]] = 1.f;
    for (int64_t tokens : {n_tok, int64_t{1}}) {
      const std::vector<float> y = RunMatMul(*be, w.view(), x, tokens);
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < c.n_out; ++r) {
          const float want = rows[r][hot[first + t]];  // == also equates a zero weight's -0 with +0
          ASSERT_EQ(want, y[t * c.n_out + r])
              << Name(c.dtype) << " row " << r << " value " << hot[first + t] << ": " << y[t * c.n_out + r] << " vs "
              << want << " (" << tokens << " tokens)";
        }
      }
    }
  }
}

TEST_P(MatMulExactTest, BitwiseDeterministic) {
  const auto [isa, c] = GetParam();
  FS_SKIP_IF_ISA_MISSING(isa);
  std::mt19937 rng(7);
  Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
  ThreadPool pool1(1), pool2(2), pool3(3);
  auto be1 = Exact(pool1, isa);
  auto be2 = Exact(pool2, isa);
  auto be3 = Exact(pool3, isa);
  for (int64_t n_tok : {1, 17}) {
    const std::vector<float> x = RandomFloats(n_tok * c.n_in, rng);
    const std::vector<float> ref = RunMatMul(*be2, w.view(), x, n_tok);
    const std::string what = std::string(Name(c.dtype)) + " n_tok " + std::to_string(n_tok) + ": ";
    EXPECT_TRUE(SameBits(ref, RunMatMul(*be2, w.view(), x, n_tok))) << what << "repeat";
    EXPECT_TRUE(SameBits(ref, RunMatMul(*be1, w.view(), x, n_tok))) << what << "1 thread";
    EXPECT_TRUE(SameBits(ref, RunMatMul(*be3, w.view(), x, n_tok))) << what << "3 threads";
    // A streamed staging buffer may hold the same bytes at any offset.
    for (size_t misalign : {size_t{0}, size_t{1}, size_t{32}, size_t{4096 + 32}}) {
      Weights copy = w.CopyAt(misalign);
      EXPECT_TRUE(SameBits(ref, RunMatMul(*be2, copy.view(), x, n_tok))) << what << "offset " << misalign;
    }
    // Each token alone (the decode kernel) gives its row of the batched result.
    for (int64_t t = 0; t < n_tok; t += 4) {
      const std::vector<float> xt(x.begin() + t * c.n_in, x.begin() + (t + 1) * c.n_in);
      const std::vector<float> yt = RunMatMul(*be2, w.view(), xt, 1);
      EXPECT_EQ(0, std::memcmp(ref.data() + t * c.n_out, yt.data(), yt.size() * sizeof(float))) << what << "token " << t;
    }
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::tuple<CpuIsa, Case>>& info) {
  const auto& [isa, c] = info.param;
  return IsaName(isa) + "_" + std::string(Name(c.dtype)) + "_" + std::to_string(c.n_out) + "x" + std::to_string(c.n_in);
}

INSTANTIATE_TEST_SUITE_P(Quantized, MatMulExactTest,
                         ::testing::Combine(::testing::ValuesIn(testing::TestIsas()), ::testing::ValuesIn(Cases())),
                         CaseName);

// Both instruction sets follow the operation order of matmul_exact.h, so they agree bitwise.
TEST(MatMulExactCrossIsa, GenericAndAvx512Identical) {
  if (!CpuIsaAvailable(CpuIsa::kAvx512)) GTEST_SKIP() << "this CPU lacks avx512";
  ThreadPool pool(2);
  auto gen = Exact(pool, CpuIsa::kGeneric);
  auto avx = Exact(pool, CpuIsa::kAvx512);
  std::mt19937 rng(3);
  for (const Case& c : Cases()) {
    Weights w = RandomWeights(c.dtype, c.n_out, c.n_in, rng);
    for (int64_t n_tok : {1, 2, 9}) {
      const std::vector<float> x = RandomFloats(n_tok * c.n_in, rng);
      EXPECT_TRUE(SameBits(RunMatMul(*gen, w.view(), x, n_tok), RunMatMul(*avx, w.view(), x, n_tok)))
          << Name(c.dtype) << " n_in " << c.n_in << " n_tok " << n_tok;
    }
  }
}

// The default backend is the exact one; int8_activations selects the int8 kernels.
TEST(MatMulExactOptions, DefaultIsExact) {
  ThreadPool pool(2);
  auto def = MakeCpuBackend(pool);
  auto exact = MakeCpuBackend(pool, CpuBackendOptions{});
  auto int8 = MakeCpuBackend(pool, CpuBackendOptions{CpuIsa::kAuto, true});
  EXPECT_EQ(def->Name(), exact->Name());
  EXPECT_EQ(int8->Name(), exact->Name() + "-int8");
  std::mt19937 rng(5);
  Weights w = RandomWeights(DType::kQ4_1, 9, 512, rng);
  std::vector<float> x = RandomFloats(2 * 512, rng);
  x[3] = 20.f;  // int8 rounds its block's other values by up to 20/254
  const std::vector<float> y_def = RunMatMul(*def, w.view(), x, 2), y_int8 = RunMatMul(*int8, w.view(), x, 2);
  EXPECT_TRUE(SameBits(y_def, RunMatMul(*exact, w.view(), x, 2)));
  std::vector<float> want(y_def.size());
  ref::MatMul(w.view(), x.data(), 2, want.data());
  double err_def = 0.0, err_int8 = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    err_def = std::max(err_def, std::fabs(static_cast<double>(y_def[i]) - want[i]));
    err_int8 = std::max(err_int8, std::fabs(static_cast<double>(y_int8[i]) - want[i]));
  }
  EXPECT_LT(err_def * 100, err_int8);
}

}  // namespace
}  // namespace flashstream
