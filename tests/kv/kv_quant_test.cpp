// KV block formats (core/kv_quant.h): round-trip error bounds of the 8/4-bit quantizer for both
// groupings, exact f16 rows, and the CPU kernels' block decoders (generic and AVX-512) against
// the reference dequantizer, bit for bit.
#include "core/kv_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels.h"
#include "core/half.h"

namespace flashstream {
namespace {

// Rows like real keys: a per-channel offset (some channels far from 0, as RoPE'd keys have)
// plus per-row noise.
std::vector<float> KeyLikeRows(int rows, int width, std::mt19937& rng) {
  std::normal_distribution<float> noise(0.f, 1.f), offset(0.f, 4.f);
  std::vector<float> off(static_cast<size_t>(width));
  for (float& o : off) o = offset(rng);
  std::vector<float> x(static_cast<size_t>(rows) * width);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < width; ++c) x[static_cast<size_t>(r) * width + c] = off[static_cast<size_t>(c)] + noise(rng);
  }
  return x;
}

// (scale, min) of value (r, c) of a quantized block.
std::pair<float, float> Params(const KvBlockLayout& l, const std::byte* block, int r, int c) {
  const auto* p = reinterpret_cast<const uint16_t*>(block + l.code_bytes());
  const size_t i = l.grouping == KvGrouping::kPerChannel ? static_cast<size_t>(c)
                                                         : static_cast<size_t>(r) * (l.width / l.group) + c / l.group;
  return {HalfToFloat(p[2 * i]), HalfToFloat(p[2 * i + 1])};
}

struct Case {
  KvFormat format;
  KvGrouping grouping;
};

class KvQuantTest : public ::testing::TestWithParam<Case> {};

// Every value comes back within half a step of its group (plus f32 rounding), and the step is
// no coarser than the group's range needs (after rounding the scale up to f16).
TEST_P(KvQuantTest, RoundTripWithinHalfAStep) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  for (int width : {192, 256, 160, 48}) {
    const KvBlockLayout l{c.format, c.grouping, width, KvChannelGroup(width), 64};
    const std::vector<float> x = KeyLikeRows(l.rows, width, rng);
    std::vector<std::byte> block(l.bytes());
    if (c.grouping == KvGrouping::kPerChannel) {
      QuantizeKvRows(l, x.data(), 0, l.rows, block.data());
    } else {  // per-token rows may arrive in pieces
      QuantizeKvRows(l, x.data(), 0, 5, block.data());
      QuantizeKvRows(l, x.data() + 5 * width, 5, l.rows - 5, block.data());
    }
    std::vector<float> y(x.size());
    DequantizeKvRows(l, block.data(), 0, l.rows, y.data());
    const float levels = c.format == KvFormat::kQ8 ? 255.f : 15.f;
    double max_err_steps = 0;
    for (int r = 0; r < l.rows; ++r) {
      for (int ch = 0; ch < width; ++ch) {
        const size_t i = static_cast<size_t>(r) * width + ch;
        const auto [scale, min] = Params(l, block.data(), r, ch);
        ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * scale * (1 + 1e-5f) + 1e-6f * std::fabs(x[i]))
            << Name(c.format) << " " << Name(c.grouping) << " width " << width << " row " << r << " ch " << ch;
        max_err_steps = std::max(max_err_steps, std::fabs(x[i] - y[i]) / static_cast<double>(scale));
        // The step covers the group's range from the f16 min, rounded up by at most one f16 ulp.
        float lo = INFINITY, hi = -INFINITY;
        for (int k = 0; k < (c.grouping == KvGrouping::kPerChannel ? l.rows : l.group); ++k) {
          const float v = c.grouping == KvGrouping::kPerChannel
                              ? x[static_cast<size_t>(k) * width + ch]
                              : x[static_cast<size_t>(r) * width + ch / l.group * l.group + k];
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        ASSERT_LE(min, lo);
        ASSERT_LE(scale, (hi - min) / levels * (1 + 1.0f / 1024) + 1e-7f);
      }
    }
    EXPECT_GT(max_err_steps, 0.3) << "the bound is not slack everywhere";
  }
}

TEST_P(KvQuantTest, ConstantGroupsReconstruct) {
  const Case c = GetParam();
  const KvBlockLayout l{c.format, c.grouping, 64, 64, 64};
  std::vector<float> x(64 * 64, 3.14159f);
  std::vector<std::byte> block(l.bytes());
  QuantizeKvRows(l, x.data(), 0, 64, block.data());
  std::vector<float> y(x.size());
  DequantizeKvRows(l, block.data(), 0, 64, y.data());
  for (float v : y) ASSERT_NEAR(v, 3.14159f, 3.14159f * 1e-3f);
}

// The kernel tables' decoders equal the reference for any row range, bit for bit.
TEST_P(KvQuantTest, KernelDecodersMatchTheReference) {
  const Case c = GetParam();
  std::mt19937 rng(3);
  std::vector<const cpu::CpuKernels*> tables = {&cpu::GenericKernels()};
  if (CpuIsaAvailable(CpuIsa::kAvx512)) tables.push_back(&cpu::Avx512Kernels());
  for (int width : {192, 256, 80, 18}) {
    const KvBlockLayout l{c.format, c.grouping, width, KvChannelGroup(width), 64};
    const std::vector<float> x = KeyLikeRows(l.rows, width, rng);
    std::vector<std::byte> block(l.bytes());
    QuantizeKvRows(l, x.data(), 0, l.rows, block.data());
    for (auto [r0, n] : {std::pair{0, 64}, std::pair{3, 17}, std::pair{63, 1}}) {
      std::vector<float> want(static_cast<size_t>(n) * width), got(want.size());
      DequantizeKvRows(l, block.data(), r0, n, want.data());
      for (const cpu::CpuKernels* k : tables) {
        k->decode_kv(l, block.data(), r0, n, got.data());
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << k->name << " " << Name(c.format) << " width " << width << " rows " << r0 << "+" << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, KvQuantTest,
                         ::testing::Values(Case{KvFormat::kQ8, KvGrouping::kPerToken},
                                           Case{KvFormat::kQ8, KvGrouping::kPerChannel},
                                           Case{KvFormat::kQ4, KvGrouping::kPerToken},
                                           Case{KvFormat::kQ4, KvGrouping::kPerChannel}));

TEST(KvQuant, F16RowsAreRoundedOnceAndDecodeExactly) {
  std::mt19937 rng(5);
  const KvBlockLayout l{KvFormat::kF16, KvGrouping::kPerToken, 96, 32, 64};
  const std::vector<float> x = KeyLikeRows(64, 96, rng);
  std::vector<std::byte> block(l.bytes());
  QuantizeKvRows(l, x.data(), 0, 64, block.data());
  std::vector<float> y(x.size());
  DequantizeKvRows(l, block.data(), 0, 64, y.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], HalfToFloat(FloatToHalf(x[i])));
}

TEST(KvQuant, SizesOfEightBitBlocksStayNearOneBytePerValue) {
  // 8-bit with f16 (scale, min) per 64 values: 1.0625 bytes a value, the 53% of FP16 that the
  // 55% memory target rests on.
  const KvBlockLayout token{KvFormat::kQ8, KvGrouping::kPerToken, 192, 64, 64};
  const KvBlockLayout channel{KvFormat::kQ8, KvGrouping::kPerChannel, 192, 64, 64};
  EXPECT_EQ(token.bytes(), 192u * 64 + 64 * 3 * 4);
  EXPECT_EQ(channel.bytes(), 192u * 64 + 192 * 4);
  const KvBlockLayout q4{KvFormat::kQ4, KvGrouping::kPerToken, 192, 64, 64};
  EXPECT_EQ(q4.bytes(), 96u * 64 + 64 * 3 * 4);
}

}  // namespace
}  // namespace flashstream
