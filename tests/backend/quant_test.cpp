// Block layouts and conversions against independent data: GGML blocks dequantized and
// activations quantized by gguf-py (data/quant_fixture.bin, made by make_quant_fixture.py),
// and fp16/bf16 conversions against their definitions and the F16C instructions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "core/cpu_features.h"
#include "core/half.h"

namespace flashstream {
namespace {

struct FixtureRecord {
  int kind = 0;  // 0: bytes -> floats (dequantize), 1: floats -> bytes (quantize)
  std::string dtype;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

std::vector<FixtureRecord> LoadFixture() {
  const char* dir = std::getenv("FS_SOURCE_DIR");
  const std::string path = std::string(dir != nullptr ? dir : FS_SOURCE_DIR) + "/tests/backend/data/quant_fixture.bin";
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<FixtureRecord> records;
  size_t pos = 0;
  const auto u32 = [&] {
    uint32_t v;
    std::memcpy(&v, data.data() + pos, 4);
    pos += 4;
    return v;
  };
  while (pos < data.size()) {
    FixtureRecord r;
    r.kind = data[pos];
    const size_t name_len = data[pos + 1];
    r.dtype.assign(reinterpret_cast<const char*>(data.data() + pos + 2), name_len);
    pos += 2 + name_len;
    const uint32_t n_values = u32(), n_bytes = u32();
    r.values.resize(n_values);
    const auto read_values = [&] {
      std::memcpy(r.values.data(), data.data() + pos, 4ull * n_values);
      pos += 4ull * n_values;
    };
    const auto read_bytes = [&] {
      r.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(pos), data.begin() + static_cast<std::ptrdiff_t>(pos + n_bytes));
      pos += n_bytes;
    };
    if (r.kind == 0) {
      read_bytes();
      read_values();
    } else {
      read_values();
      read_bytes();
    }
    records.push_back(std::move(r));
  }
  return records;
}

TEST(Quant, DequantizeMatchesGgufPy) {
  int seen = 0;
  for (const FixtureRecord& r : LoadFixture()) {
    if (r.kind != 0) continue;
    const DType t = *DTypeFromName(r.dtype);
    ASSERT_EQ(RowBytes(t, static_cast<int64_t>(r.values.size())), r.bytes.size()) << r.dtype;
    // At an odd address too: GGUF data need not be aligned.
    std::vector<uint8_t> shifted(r.bytes.size() + 1);
    std::memcpy(shifted.data() + 1, r.bytes.data(), r.bytes.size());
    std::vector<float> got(r.values.size());
    DequantizeRow(t, shifted.data() + 1, got.data(), static_cast<int64_t>(got.size()));
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], r.values[i]) << r.dtype << " value " << i;  // same f32 operations: exact
    }
    ++seen;
  }
  EXPECT_EQ(seen, 9);
}

TEST(Quant, QuantizeMatchesGgufPy) {
  int seen = 0;
  for (const FixtureRecord& r : LoadFixture()) {
    if (r.kind != 1) continue;
    const DType t = *DTypeFromName(r.dtype);
    std::vector<uint8_t> got(r.bytes.size());
    QuantizeRow(t, r.values.data(), got.data(), static_cast<int64_t>(r.values.size()));
    EXPECT_EQ(got, r.bytes) << r.dtype;
    ++seen;
  }
  EXPECT_EQ(seen, 4);
}

// Round trip error of the reference quantizers: at most half a step (Q8_0: d/2 with
// d = amax/127; Q4_0: |d|/2 with d = max/-8, except values clipped at +7d; Q4_1: d/2), plus
// the f16 rounding of d (and m) applied to up to 127 (15) steps.
TEST(Quant, RoundTripErrorWithinHalfStep) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> x(32 * 256);
  for (float& v : x) v = dist(rng);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1}) {
    std::vector<uint8_t> blocks(RowBytes(t, static_cast<int64_t>(x.size())));
    QuantizeRow(t, x.data(), blocks.data(), static_cast<int64_t>(x.size()));
    std::vector<float> y(x.size());
    DequantizeRow(t, blocks.data(), y.data(), static_cast<int64_t>(y.size()));
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float mn = x[b * 32], mx = x[b * 32], amax = 0.f;
      for (int j = 0; j < 32; ++j) {
        mn = std::min(mn, x[b * 32 + j]);
        mx = std::max(mx, x[b * 32 + j]);
        amax = std::max(amax, std::fabs(x[b * 32 + j]));
      }
      const float step = t == DType::kQ8_0 ? amax / 127 : t == DType::kQ4_0 ? amax / 8 : (mx - mn) / 15;
      const float steps = t == DType::kQ8_0 ? 127 : 15;
      const float tol = t == DType::kQ4_0 ? step : step / 2 + steps * step / 1024 + amax / 1024;
      for (int j = 0; j < 32; ++j) ASSERT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), tol) << Name(t) << " block " << b;
    }
  }
}

TEST(Half, EveryF16RoundTripsThroughF32) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f))));
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
  }
  EXPECT_EQ(HalfToFloat(0x3C00), 1.f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(HalfToFloat(0xFBFF), -65504.f);
}

TEST(Half, FloatToHalfRoundsToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.f + std::ldexp(1.f, -11)), 0x3C00);                         // tie -> even
  EXPECT_EQ(FloatToHalf(1.f + 3 * std::ldexp(1.f, -11)), 0x3C02);                     // tie -> even
  EXPECT_EQ(FloatToHalf(1.f + std::ldexp(1.f, -11) + std::ldexp(1.f, -20)), 0x3C01);  // above tie
  EXPECT_EQ(FloatToHalf(65519.f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.f), 0x7C00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -25)), 0x0000);  // tie with 0 -> even
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(-0.f), 0x8000);
}

TEST(Half, RowConversionsAgreeWithScalar) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<uint32_t> mantissa(0, 0x7FFFFF), sign(0, 1), exponent(95, 145);
  std::vector<float> f(1003);
  for (float& v : f) {  // exponents spanning f16 zero, subnormals, normals and overflow
    const uint32_t b = (sign(rng) << 31) | (exponent(rng) << 23) | mantissa(rng);
    std::memcpy(&v, &b, 4);
  }
  std::vector<uint16_t> h(f.size()), b(f.size());
  FloatToHalfRow(f.data(), h.data(), static_cast<int64_t>(f.size()));
  FloatToBF16Row(f.data(), b.data(), static_cast<int64_t>(f.size()));
  std::vector<float> back(f.size()), back_b(f.size());
  HalfToFloatRow(h.data(), back.data(), static_cast<int64_t>(h.size()));
  BF16ToFloatRow(b.data(), back_b.data(), static_cast<int64_t>(b.size()));
  for (size_t i = 0; i < f.size(); ++i) {
    ASSERT_EQ(h[i], FloatToHalf(f[i])) << i << " f16c=" << GetCpuFeatures().f16c;
    ASSERT_EQ(back[i], HalfToFloat(h[i])) << i;
    ASSERT_EQ(b[i], FloatToBF16(f[i])) << i;
    ASSERT_EQ(back_b[i], BF16ToFloat(b[i])) << i;
  }
}

TEST(Half, BF16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBF16(1.f), 0x3F80);
  EXPECT_EQ(BF16ToFloat(0x3F80), 1.f);
  EXPECT_EQ(FloatToBF16(1.f + std::ldexp(1.f, -8)), 0x3F80);  // tie -> even
  EXPECT_EQ(FloatToBF16(1.f + 3 * std::ldexp(1.f, -8)), 0x3F82);
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(NAN))));
}

}  // namespace
}  // namespace flashstream
