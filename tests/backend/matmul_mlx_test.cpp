// MLX affine matmul and GetRows against MLX's documented formula, evaluated
// independently in f64 here: value j of a row is bits [b*(j % (32/b)), +b) of
// uint32 word j / (32/b) (little end first), w = q * scale + bias per group.
// Bits 4/8 x groups 32/64/128 x scale dtypes, odd row counts, decode and
// batched calls, both instruction sets (bitwise equal to each other).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "backend/backend.h"
#include "core/half.h"
#include "core/mlx_quant.h"
#include "core/thread_pool.h"
#include "test_util.h"

namespace flashstream {
namespace {

using testing::IsaName;
using testing::TestIsas;

struct MlxCase {
  DType dtype;
  int group;
  DType aux;
};

// A random MLX tensor [rows, cols]: packed codes, scales, biases, with a
// misaligned start.
struct MlxTensor {
  std::vector<std::byte> packed, scales, biases;
  TensorView view;
  DType aux;
  int bits;
  MlxTensor(const MlxCase& c, int64_t rows, int64_t cols, std::mt19937& rng) : aux(c.aux), bits(MlxBits(c.dtype)) {
    packed.resize(RowBytes(c.dtype, cols) * static_cast<size_t>(rows) + 3);
    for (auto& b : packed) b = static_cast<std::byte>(rng() & 0xFF);
    const int64_t n_aux = rows * cols / c.group;
    scales.resize(static_cast<size_t>(n_aux) * 4);
    biases.resize(static_cast<size_t>(n_aux) * 4);
    std::uniform_real_distribution<float> sd(0.001f, 0.02f), bd(-0.1f, 0.1f);
    for (int64_t i = 0; i < n_aux; ++i) {
      Put(scales.data(), i, sd(rng));
      Put(biases.data(), i, bd(rng));
    }
    view.data = packed.data() + 3;
    view.dtype = c.dtype;
    view.shape = MakeShape({rows, cols});
    view.scales = scales.data();
    view.biases = biases.data();
    view.aux_dtype = c.aux;
    view.group_size = c.group;
  }
  void Put(std::byte* p, int64_t i, float v) const {
    if (aux == DType::kF32) {
      std::memcpy(p + 4 * i, &v, 4);
    } else {
      const uint16_t h = aux == DType::kF16 ? FloatToHalf(v) : FloatToBF16(v);
      std::memcpy(p + 2 * i, &h, 2);
    }
  }
  double Aux(const std::byte* p, int64_t i) const {
    if (aux == DType::kF32) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return aux == DType::kF16 ? HalfToFloat(h) : BF16ToFloat(h);
  }
  // The documented formula, in f64.
  double Weight(int64_t r, int64_t j) const {
    const int64_t cols = view.cols();
    const int64_t bit = j * bits;  // position in the row's little-endian bit stream
    const auto* row = reinterpret_cast<const uint8_t*>(view.data) + r * cols * bits / 8;
    uint32_t word;
    std::memcpy(&word, row + 4 * (bit / 32), 4);
    const uint32_t q = (word >> (bit % 32)) & ((1u << bits) - 1);
    const int64_t g = (r * cols + j) / view.group_size;
    return q * Aux(scales.data(), g) + Aux(biases.data(), g);
  }
};

class MatMulMlxTest : public ::testing::TestWithParam<MlxCase> {};

TEST_P(MatMulMlxTest, MatchesDocumentedFormula) {
  const MlxCase c = GetParam();
  std::mt19937 rng(7);
  const int64_t rows = 37, cols = 384;
  MlxTensor w(c, rows, cols, rng);
  for (int64_t n_tok : {1, 5}) {
    const std::vector<float> x = testing::RandomFloats(n_tok * cols, rng);
    std::vector<float> first;
    for (CpuIsa isa : TestIsas()) {
      if (!CpuIsaAvailable(isa)) continue;
      ThreadPool pool(2);
      auto backend = MakeCpuBackend(pool, CpuBackendOptions{isa, false});
      std::vector<float> y(static_cast<size_t>(n_tok * rows));
      backend->MatMul(w.view, x.data(), n_tok, y.data());
      for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double want = 0, bound = 0;
          for (int64_t j = 0; j < cols; ++j) {
            want += w.Weight(r, j) * x[static_cast<size_t>(t * cols + j)];
            bound += std::fabs(w.Weight(r, j) * x[static_cast<size_t>(t * cols + j)]) +
                     std::fabs(w.Aux(w.biases.data(), (r * cols + j) / c.group) * x[static_cast<size_t>(t * cols + j)]);
          }
          bound *= (cols / 16 + c.group / 16 + 6) * 0x1p-24;
          EXPECT_NEAR(y[static_cast<size_t>(t * rows + r)], want, bound) << IsaName(isa) << " t " << t << " r " << r;
        }
      }
      if (first.empty()) {
        first = y;
      } else {
        EXPECT_EQ(std::memcmp(first.data(), y.data(), y.size() * 4), 0) << "generic and avx512 differ";
      }
      // GetRows: every row dequantizes to fma(q, s, b) of the formula's inputs.
      const int32_t ids[3] = {0, 36, 17};
      std::vector<float> rows_out(3 * static_cast<size_t>(cols));
      backend->GetRows(w.view, ids, 3, rows_out.data());
      for (int i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          EXPECT_NEAR(rows_out[static_cast<size_t>(i * cols + j)], w.Weight(ids[i], j), 1e-6);
        }
      }
    }
  }
}

TEST(MlxQuant, QuantizeRoundTripsWithinHalfAStep) {
  std::mt19937 rng(3);
  for (DType dtype : {DType::kMlxQ4, DType::kMlxQ8}) {
    const int64_t n = 256;
    const std::vector<float> src = testing::RandomFloats(n, rng);
    std::vector<std::byte> packed(RowBytes(dtype, n)), s(n / 32 * 4), b(n / 32 * 4);
    MlxQuantizeRow(dtype, src.data(), 32, DType::kF32, packed.data(), s.data(), b.data(), n);
    std::vector<float> back(n);
    MlxDequantizeRow(dtype, packed.data(), s.data(), b.data(), DType::kF32, 32, back.data(), n);
    for (int64_t j = 0; j < n; ++j) {
      const float step = MlxAux(DType::kF32, s.data(), j / 32);
      EXPECT_NEAR(back[j], src[j], step * 0.5f + 1e-6f) << Name(dtype) << " " << j;
    }
  }
}

std::vector<MlxCase> Cases() {
  std::vector<MlxCase> out;
  for (DType d : {DType::kMlxQ4, DType::kMlxQ8}) {
    for (int g : {32, 64, 128}) {
      for (DType aux : {DType::kF32, DType::kF16, DType::kBF16}) out.push_back({d, g, aux});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Mlx, MatMulMlxTest, ::testing::ValuesIn(Cases()), [](const auto& info) {
  return std::string(Name(info.param.dtype)) + "_g" + std::to_string(info.param.group) + "_" +
         std::string(Name(info.param.aux));
});

}  // namespace
}  // namespace flashstream
