// CUDA MatMul and GetRows against the CPU backend (exact mode), for every
// weight dtype, on random inputs: odd row counts, block counts that leave
// partial staging tiles, one token (the GEMV kernels) and 17 (dequantize +
// cuBLAS SGEMM), and device weights at offsets that force each load width of
// the GEMV (16, 4, 2 and 1 bytes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "cuda_test_util.h"

namespace flashstream {
namespace {

using testing::CudaVsCpuTest;
using testing::DeviceVec;
using testing::DeviceWeights;
using testing::RandomFloats;
using testing::RandomWeights;
using testing::RelNorm;
using testing::Weights;

constexpr DType kAll[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                          DType::kQ4_1, DType::kQ5_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Error bound, per output, the same for every dtype: both backends decode each weight to the
// same f32 value (GetRowsBitwiseEqualToCpu checks the decoders), the GEMV then factors the
// block scale out of its sums, which moves each product by at most one rounding (u |w x|).
// What remains is summation order: both sum n_in products in f32 in different orders (the
// CPU in SIMD lanes, the GPU per lane and 32-value item then across the warp, or cuBLAS's
// tiles). Each rounding is at most u = 2^-24 of a partial sum, and partial sums never exceed
// S = sum_i |w_i x_i|; with blocked summation the worst case stays far below the
// sqrt(n_in) * u * S of probabilistic analysis (Higham & Mary 2019), which for n_in <= 20480
// (the widest test row) is 9e-6 * S, 4e-6 * S at 4096. We allow 1e-5 * S. A single wrong weight value changes an
// output by ~S / n_in (2.4e-4 * S at n_in = 4096), far above the bound.
constexpr double kRelToAbsSum = 1e-5;

struct Shape2 {
  int64_t n_out, n_in;
};

std::vector<Shape2> ShapesFor(DType t) {
  if (Info(t).block_elems == 256) return {{37, 256}, {129, 768}, {61, 4096}};
  std::vector<Shape2> s = {{37, 96}, {129, 544}, {61, 4096}};
  if (!IsQuantized(t)) s.push_back({33, 100});  // rows not a multiple of 16 bytes: scalar path
  return s;
}

// S[t, r] = sum_i |w[r, i] x[t, i]| from the CPU dequantization of the weights.
std::vector<double> AbsDotSums(const TensorView& w, const std::vector<float>& x, int64_t n_tok) {
  const int64_t n_out = w.rows(), n_in = w.cols();
  std::vector<float> row(static_cast<size_t>(n_in));
  std::vector<double> s(static_cast<size_t>(n_tok * n_out));
  for (int64_t r = 0; r < n_out; ++r) {
    DequantizeRow(w.dtype, w.row(r), row.data(), n_in);
    for (int64_t t = 0; t < n_tok; ++t) {
      double acc = 0;
      for (int64_t i = 0; i < n_in; ++i) acc += std::fabs(static_cast<double>(row[i]) * x[t * n_in + i]);
      s[t * n_out + r] = acc;
    }
  }
  return s;
}

class CudaMatMulTest : public CudaVsCpuTest {
 protected:
  // Runs both backends and checks the bound; returns the GPU result.
  std::vector<float> Check(Weights& host, const std::vector<float>& x, int64_t n_tok, size_t misalign,
                           const std::string& what) {
    const TensorView hv = host.view();
    const int64_t n_out = hv.rows();
    std::vector<float> want(static_cast<size_t>(n_tok * n_out), NAN);
    cpu_->MatMul(hv, x.data(), n_tok, want.data());
    DeviceWeights dw(host, misalign);
    DeviceVec<float> dx(x);
    DeviceVec<float> dy(std::vector<float>(static_cast<size_t>(n_tok * n_out),
                                           NAN));  // poisoned
    gpu_->MatMul(dw.view(), dx.data(), n_tok, dy.data());
    const std::vector<float> got = dy.Download();
    const std::vector<double> s = AbsDotSums(hv, x, n_tok);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], kRelToAbsSum * s[i] + 1e-30) << what << " output " << i;
      if (::testing::Test::HasFailure()) break;
    }
    EXPECT_LT(RelNorm(got, want), 1e-5) << what;
    return got;
  }
};

TEST_F(CudaMatMulTest, EveryDtypeOneAndSeventeenTokens) {
  for (DType t : kAll) {
    for (const Shape2& sh : ShapesFor(t)) {
      Weights w = RandomWeights(t, sh.n_out, sh.n_in, rng_);
      for (int64_t n_tok : {1, 17}) {
        const std::vector<float> x = RandomFloats(n_tok * sh.n_in, rng_);
        Check(w, x, n_tok, 0, fmt::format("{} [{}, {}] n_tok {}", Name(t), sh.n_out, sh.n_in, n_tok));
        ASSERT_FALSE(HasFailure());
      }
    }
  }
}

// Paths the shapes above do not take: an x that is not 16-byte aligned (copied to an aligned
// scratch first), rows too wide for x to be staged in shared memory (x read from global
// memory), and 2 to 4 tokens.
TEST_F(CudaMatMulTest, UnalignedXWideRowsAndFewTokens) {
  for (DType t : {DType::kQ8_0, DType::kQ4_1, DType::kQ5_K, DType::kF16}) {
    const std::string name(Name(t));
    {
      Weights w = RandomWeights(t, 21, 512, rng_);
      const std::vector<float> x = RandomFloats(512, rng_);
      const TensorView hv = w.view();
      std::vector<float> want(21);
      cpu_->MatMul(hv, x.data(), 1, want.data());
      std::vector<float> shifted(513);
      std::copy(x.begin(), x.end(), shifted.begin() + 1);
      DeviceWeights dw(w);
      DeviceVec<float> dx(shifted), dy(std::vector<float>(21, NAN));
      gpu_->MatMul(dw.view(), dx.data() + 1, 1, dy.data());  // x at a 4-byte offset
      const std::vector<float> got = dy.Download();
      const std::vector<double> s = AbsDotSums(hv, x, 1);
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], kRelToAbsSum * s[i] + 1e-30) << name;
    }
    {
      Weights w = RandomWeights(t, 9, 20480, rng_);  // x: 80 KiB, more than kMaxSharedX
      Check(w, RandomFloats(20480, rng_), 1, 0, name + " n_in 20480");
    }
    Weights w = RandomWeights(t, 33, 1024, rng_);
    for (int64_t n_tok : {2, 3, 4}) {
      Check(w, RandomFloats(n_tok * 1024, rng_), n_tok, 0, name + " n_tok " + std::to_string(n_tok));
    }
    ASSERT_FALSE(HasFailure());
  }
}

// A weight's device address decides only the GEMV's load width, never the
// arithmetic: every offset gives bitwise-equal outputs (a streamed copy
// computes what a resident one does).
TEST_F(CudaMatMulTest, DeviceOffsetDoesNotChangeBits) {
  for (DType t : kAll) {
    const int64_t n_in = Info(t).block_elems == 256 ? 1024 : 1056;
    Weights w = RandomWeights(t, 45, n_in, rng_);
    const std::vector<float> x = RandomFloats(n_in, rng_);
    const std::string name(Name(t));
    const std::vector<float> base = Check(w, x, 1, 0, name + " offset 0");
    std::vector<size_t> offsets = {4, 16, 260};
    if (t != DType::kF32) offsets.push_back(2);
    if (IsQuantized(t)) offsets.push_back(1);
    for (size_t off : offsets) {
      const std::vector<float> got = Check(w, x, 1, off, name + " offset " + std::to_string(off));
      EXPECT_EQ(0, std::memcmp(got.data(), base.data(), got.size() * sizeof(float))) << name << " offset " << off;
    }
    ASSERT_FALSE(HasFailure());
  }
}

// SetTokenwise(true) (speculative verification passes): each token of a several-token MatMul
// gets the bits of a one-token MatMul on its row, with f32 and bf16-activation backends alike;
// without it, 17 tokens take the batched GEMM, which is not held to that.
TEST_F(CudaMatMulTest, TokenwiseTokensEqualOneTokenProductsBitwise) {
  std::unique_ptr<Backend> bf16 = MakeCudaBackend(0, CudaBackendOptions{true});
  for (Backend* gpu : {gpu_.get(), bf16.get()}) {
    for (DType t : kAll) {
      const int64_t n_in = Info(t).block_elems == 256 ? 1024 : 1056, n_out = 45, n_tok = 17;
      Weights w = RandomWeights(t, n_out, n_in, rng_);
      DeviceWeights dw(w);
      DeviceVec<float> dx(RandomFloats(n_tok * n_in, rng_));
      DeviceVec<float> all(std::vector<float>(static_cast<size_t>(n_tok * n_out), NAN));
      DeviceVec<float> one(std::vector<float>(static_cast<size_t>(n_tok * n_out), NAN));
      gpu->SetTokenwise(true);
      gpu->MatMul(dw.view(), dx.data(), n_tok, all.data());
      gpu->SetTokenwise(false);
      for (int64_t i = 0; i < n_tok; ++i) gpu->MatMul(dw.view(), dx.data() + i * n_in, 1, one.data() + i * n_out);
      const std::vector<float> a = all.Download(), b = one.Download();
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << Name(t) << " " << gpu->Name();
    }
  }
}

// GetRows dequantizes with DequantizeRow's exact rounding: bitwise equal to the
// CPU, with ids from the host or from device memory.
TEST_F(CudaMatMulTest, GetRowsBitwiseEqualToCpu) {
  for (DType t : kAll) {
    Weights table = RandomWeights(t, 50, 512, rng_);
    const std::vector<int32_t> ids = {0, 49, 7, 7, 23};
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<float> want(static_cast<size_t>(n * 512), NAN);
    cpu_->GetRows(table.view(), ids.data(), n, want.data());
    DeviceWeights dt(table, 4);
    DeviceVec<int32_t> dids(ids);
    for (bool device_ids : {false, true}) {
      DeviceVec<float> out(std::vector<float>(want.size(), NAN));
      gpu_->GetRows(dt.view(), device_ids ? dids.data() : ids.data(), n, out.data());
      const std::vector<float> got = out.Download();
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
          << Name(t) << (device_ids ? " device ids" : " host ids");
    }
  }
}

TEST_F(CudaMatMulTest, GetRowsDeviceIdOutOfRangeGivesNaNRow) {
  Weights table = RandomWeights(DType::kQ8_0, 10, 64, rng_);
  DeviceWeights dt(table);
  DeviceVec<int32_t> dids(std::vector<int32_t>{3, 10, -1});
  DeviceVec<float> out(std::vector<float>(3 * 64, 0.f));
  gpu_->GetRows(dt.view(), dids.data(), 3, out.data());
  const std::vector<float> got = out.Download();
  std::vector<float> row3(64);
  DequantizeRow(DType::kQ8_0, table.view().row(3), row3.data(), 64);
  for (int c = 0; c < 64; ++c) {
    EXPECT_EQ(got[static_cast<size_t>(c)], row3[static_cast<size_t>(c)]) << c;
    EXPECT_TRUE(std::isnan(got[static_cast<size_t>(64 + c)])) << c;
    EXPECT_TRUE(std::isnan(got[static_cast<size_t>(128 + c)])) << c;
  }
}

}  // namespace
}  // namespace flashstream
