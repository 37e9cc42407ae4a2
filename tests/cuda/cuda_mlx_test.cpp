// CUDA MatMul and GetRows of MLX affine weights (4 and 8 bits; groups of 32, 64 and 128; f32,
// f16 and bf16 scales) against the CPU backend on random inputs: one token (the GEMV kernel,
// codes at 16-, 4- and 1-byte aligned addresses) and 9 tokens (dequantize + cuBLAS SGEMM); GetRows bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/mlx_quant.h"
#include "cuda_test_util.h"

namespace flashstream {
namespace {

using testing::CudaVsCpuTest;
using testing::DeviceVec;
using testing::RandomFloats;
using testing::RelNorm;

// The CPU and the GPU both form sum(q * x) and sum(x) per group in f32 and fold them in as
// scale * . + bias * .; they differ only in the order of f32 additions. As in
// cuda_matmul_test.cpp each output may move by 1e-5 of the sum of the magnitudes of the terms
// added, here S = sum_i (|q_i s x_i| + |b x_i|) (the bias term is summed apart).
constexpr double kRelToAbsSum = 1e-5;

struct MlxWeights {
  DType dtype;
  int group;
  DType aux;
  int64_t rows, cols;
  std::vector<std::byte> packed, scales, biases;  // [rows, row bytes], [rows, cols / group] x2

  TensorView View(const std::byte* p, const std::byte* s, const std::byte* b) const {
    TensorView v;
    v.data = p;
    v.dtype = dtype;
    v.shape = MakeShape({rows, cols});
    v.scales = s;
    v.biases = b;
    v.aux_dtype = aux;
    v.group_size = group;
    return v;
  }
};

void PutAux(DType aux, std::byte* p, int64_t i, float v) {
  if (aux == DType::kF32) {
    std::memcpy(p + 4 * i, &v, 4);
  } else {
    const uint16_t h = aux == DType::kF16 ? FloatToHalf(v) : FloatToBF16(v);
    std::memcpy(p + 2 * i, &h, 2);
  }
}

MlxWeights RandomMlx(DType dtype, int group, DType aux, int64_t rows, int64_t cols, std::mt19937& rng) {
  MlxWeights w{dtype, group, aux, rows, cols, {}, {}, {}};
  w.packed.resize(RowBytes(dtype, cols) * static_cast<size_t>(rows));
  for (auto& b : w.packed) b = static_cast<std::byte>(rng() & 0xFF);
  const int64_t n_aux = rows * cols / group;
  const size_t aux_bytes = aux == DType::kF32 ? 4 : 2;
  w.scales.resize(static_cast<size_t>(n_aux) * aux_bytes);
  w.biases.resize(static_cast<size_t>(n_aux) * aux_bytes);
  std::uniform_real_distribution<float> sd(0.001f, 0.02f), bd(-0.1f, 0.1f);
  for (int64_t i = 0; i < n_aux; ++i) {
    PutAux(aux, w.scales.data(), i, sd(rng));
    PutAux(aux, w.biases.data(), i, bd(rng));
  }
  return w;
}

class CudaMlxTest : public CudaVsCpuTest {};

TEST_F(CudaMlxTest, MatMulAndGetRowsMatchTheCpu) {
  for (DType dtype : {DType::kMlxQ4, DType::kMlxQ8}) {
    for (int group : {32, 64, 128}) {
      for (DType aux : {DType::kF32, DType::kF16, DType::kBF16}) {
        // Rows are whole 16-byte multiples; the codes start `misalign` bytes past a 256-byte
        // boundary, which selects the GEMV's 16-, 4- or 1-byte loads.
        for (size_t misalign : {0, 4, 1}) {
          const int64_t rows = 37, cols = 384;
          const std::string what =
              fmt::format("{} group {} aux {} misalign {}", Name(dtype), group, Name(aux), misalign);
          const MlxWeights w = RandomMlx(dtype, group, aux, rows, cols, rng_);
          const TensorView host = w.View(w.packed.data(), w.scales.data(), w.biases.data());
          std::vector<std::byte> shifted(misalign);
          shifted.insert(shifted.end(), w.packed.begin(), w.packed.end());
          DeviceVec<std::byte> dp(shifted), ds(w.scales), db(w.biases);
          const TensorView dev = w.View(dp.data() + misalign, ds.data(), db.data());
          std::vector<float> deq(static_cast<size_t>(rows * cols));
          for (int64_t r = 0; r < rows; ++r) {
            MlxDequantizeRow(dtype, host.row(r), host.scale_row(r), host.bias_row(r), aux, group, deq.data() + r * cols,
                             cols);
          }
          for (int64_t n_tok : {1, 9}) {
            const std::vector<float> x = RandomFloats(n_tok * cols, rng_);
            std::vector<float> want(static_cast<size_t>(n_tok * rows));
            cpu_->MatMul(host, x.data(), n_tok, want.data());
            DeviceVec<float> dx(x);
            DeviceVec<float> dy(std::vector<float>(want.size(), NAN));  // poisoned
            gpu_->MatMul(dev, dx.data(), n_tok, dy.data());
            const std::vector<float> got = dy.Download();
            for (int64_t t = 0; t < n_tok; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                double s = 0;
                for (int64_t j = 0; j < cols; ++j) {
                  const double b = MlxAux(aux, host.bias_row(r), j / group);
                  const double xv = x[static_cast<size_t>(t * cols + j)];
                  s += std::fabs((deq[static_cast<size_t>(r * cols + j)] - b) * xv) + std::fabs(b * xv);
                }
                const size_t i = static_cast<size_t>(t * rows + r);
                ASSERT_NEAR(got[i], want[i], kRelToAbsSum * s + 1e-30) << what << " n_tok " << n_tok << " row " << r;
              }
            }
            EXPECT_LT(RelNorm(got, want), 1e-5) << what;
          }
          const std::vector<int32_t> ids = {0, static_cast<int32_t>(rows - 1), 5, 0};
          std::vector<float> want(ids.size() * static_cast<size_t>(cols));
          cpu_->GetRows(host, ids.data(), static_cast<int64_t>(ids.size()), want.data());
          DeviceVec<int32_t> did(ids);
          DeviceVec<float> dout(std::vector<float>(want.size(), NAN));
          gpu_->GetRows(dev, did.data(), static_cast<int64_t>(ids.size()), dout.data());
          const std::vector<float> got = dout.Download();
          EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << what << " GetRows";
          ASSERT_FALSE(HasFailure()) << what;
        }
      }
    }
  }
}

}  // namespace
}  // namespace flashstream
