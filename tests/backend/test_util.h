// Shared helpers for the backend tests: random weights of every dtype, random activations,
// and the list of CPU instruction sets to run each test on.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/quant.h"
#include "core/dtype.h"
#include "core/half.h"
#include "core/tensor.h"

namespace flashstream::testing {

// Owns weight bytes at a chosen misalignment; view() is valid while the object lives.
class Weights {
 public:
  Weights(DType dtype, int64_t n_out, int64_t n_in, size_t misalign = 0)
      : storage_(RowBytes(dtype, n_in) * static_cast<size_t>(n_out) + 64 + misalign),
        misalign_(misalign),
        dtype_(dtype),
        shape_(MakeShape({n_out, n_in})) {}
  std::byte* data() { return Base() + misalign_; }
  size_t bytes() const { return RowBytes(dtype_, shape_[1]) * static_cast<size_t>(shape_[0]); }
  TensorView view() { return TensorView{data(), dtype_, shape_}; }
  // A copy of the same bytes at another misalignment (as a streamed staging buffer may be).
  Weights CopyAt(size_t misalign) {
    Weights w(dtype_, shape_[0], shape_[1], misalign);
    std::memcpy(w.data(), data(), bytes());
    return w;
  }

 private:
  std::byte* Base() {
    auto addr = reinterpret_cast<uintptr_t>(storage_.data());
    return storage_.data() + ((64 - addr % 64) % 64);  // 64-aligned, then misalign_ bytes on
  }
  std::vector<std::byte> storage_;
  size_t misalign_;
  DType dtype_;
  Shape shape_;
};

inline std::vector<float> RandomFloats(int64_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

inline void PutHalf(std::byte* p, float v) {
  const uint16_t h = FloatToHalf(v);
  std::memcpy(p, &h, 2);
}

// Random weights: float types from N(0, 0.1); Q8_0/Q4_0/Q4_1 quantized from such values (as
// real models are); K-quants with random quant bits and 6/8-bit scales and random moderate
// f16 super-scales (their quantizers are not needed to exercise the layouts).
inline Weights RandomWeights(DType dtype, int64_t n_out, int64_t n_in, std::mt19937& rng) {
  Weights w(dtype, n_out, n_in);
  const std::vector<float> values = RandomFloats(n_out * n_in, rng, 0.1f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> superscale(0.0005f, 0.005f);
  const uint64_t row_bytes = RowBytes(dtype, n_in);
  for (int64_t r = 0; r < n_out; ++r) {
    std::byte* row = w.data() + r * row_bytes;
    const float* v = values.data() + r * n_in;
    switch (dtype) {
      case DType::kF32:
        std::memcpy(row, v, row_bytes);
        break;
      case DType::kF16:
        for (int64_t i = 0; i < n_in; ++i) PutHalf(row + 2 * i, v[i]);
        break;
      case DType::kBF16:
        for (int64_t i = 0; i < n_in; ++i) {
          const uint16_t b = FloatToBF16(v[i]);
          std::memcpy(row + 2 * i, &b, 2);
        }
        break;
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_1:
      case DType::kQ5_0:
        QuantizeRow(dtype, v, row, n_in);
        break;
      default: {
        for (uint64_t i = 0; i < row_bytes; ++i) row[i] = static_cast<std::byte>(byte(rng));
        const int block_bytes = Info(dtype).block_bytes;
        for (int64_t b = 0; b < n_in / kQKK; ++b) {
          std::byte* blk = row + b * block_bytes;
          if (dtype == DType::kQ6_K) {
            PutHalf(blk + 208, superscale(rng));
          } else {
            PutHalf(blk, superscale(rng));
            PutHalf(blk + 2, superscale(rng));
          }
        }
      }
    }
  }
  return w;
}

inline std::vector<CpuIsa> TestIsas() { return {CpuIsa::kGeneric, CpuIsa::kAvx512}; }

inline std::string IsaName(CpuIsa isa) { return isa == CpuIsa::kGeneric ? "generic" : "avx512"; }

#define FS_SKIP_IF_ISA_MISSING(isa)                                                        \
  do {                                                                                     \
    if (!::flashstream::CpuIsaAvailable(isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(isa); \
  } while (0)

}  // namespace flashstream::testing
