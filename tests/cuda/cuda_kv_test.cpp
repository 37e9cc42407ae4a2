// The KV cache tiers in device memory (src/kv with the CUDA backend) against the host cache on
// the CPU: the device quantizer gives the CPU's codes, scales and mins bit for bit, and a cache
// fed the same K/V and queries on both backends attends to within kAttnBound (both read the same
// values in the same tier; only the f32 summation order and exp differ). Covers the window edge, block
// edges, prefill chunks and decode steps, GQA, sliding windows, 8 and 4 bits, keys per channel
// and per token, FP16 everywhere, truncation and checkpoints.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "core/kv_quant.h"
#include "cuda_test_util.h"
#include "kv/tiered_kv_cache.h"

namespace flashstream {
namespace {

using testing::CudaVsCpuTest;
using testing::DeviceVec;

// ||cuda - cpu|| / ||cpu|| of a layer's attention outputs: f32 rounding in another order (the
// outputs average values up to ~100 with the outliers; the absolute difference reaches 1e-3).
constexpr double kAttnBound = 1e-5;

// rows [n, width]: a per-channel offset (as keys have), noise, a few outliers, one constant row.
std::vector<float> Rows(int n, int width, std::mt19937& rng) {
  std::normal_distribution<float> noise(0.f, 1.f), offset(0.f, 3.f);
  std::vector<float> off(static_cast<size_t>(width));
  for (float& o : off) o = offset(rng);
  std::vector<float> x(static_cast<size_t>(n) * width);
  for (size_t i = 0; i < x.size(); ++i) x[i] = off[i % static_cast<size_t>(width)] + noise(rng);
  for (size_t i = 7; i < x.size(); i += 331) x[i] *= 40.f;
  if (n > 3) std::fill(x.begin() + 3 * width, x.begin() + 4 * width, 0.5f);
  return x;
}

std::vector<KvBlockLayout> Layouts(int width) {
  const int g = KvChannelGroup(width);
  return {
      {KvFormat::kF32, KvGrouping::kPerToken, width, g, 64},  {KvFormat::kF16, KvGrouping::kPerToken, width, g, 64},
      {KvFormat::kQ8, KvGrouping::kPerToken, width, g, 64},   {KvFormat::kQ4, KvGrouping::kPerToken, width, g, 64},
      {KvFormat::kQ8, KvGrouping::kPerChannel, width, g, 64}, {KvFormat::kQ4, KvGrouping::kPerChannel, width, g, 64}};
}

TEST_F(CudaVsCpuTest, KvQuantizeGivesTheCpuBytes) {
  std::mt19937 rng(5);
  for (int width : {192, 128, 40}) {
    const std::vector<float> x = Rows(64, width, rng);
    for (const KvBlockLayout& l : Layouts(width)) {
      const bool whole = IsQuantized(l.format) && l.grouping == KvGrouping::kPerChannel;
      for (auto [row0, n] : whole ? std::vector<std::pair<int, int>>{{0, 64}}
                                  : std::vector<std::pair<int, int>>{{0, 64}, {5, 20}, {63, 1}}) {
        std::vector<std::byte> want(l.bytes());
        QuantizeKvRows(l, x.data(), row0, n, want.data());
        DeviceVec<std::byte> got(std::vector<std::byte>(l.bytes()));
        DeviceVec<float> dx(std::vector<float>(x.begin(), x.begin() + int64_t{n} * width));
        gpu_->QuantizeKv(l, dx.data(), row0, n, got.data());
        EXPECT_TRUE(got.Download() == want)
            << Name(l.format) << " " << Name(l.grouping) << " width " << width << " rows " << row0 << "+" << n;
      }
    }
  }
}

TEST_F(CudaVsCpuTest, KvRequantizeFromFp16GivesTheCpuBytes) {
  std::mt19937 rng(6);
  for (int width : {192, 256}) {
    const std::vector<float> x = Rows(64, width, rng);
    const KvBlockLayout hot{KvFormat::kF16, KvGrouping::kPerToken, width, KvChannelGroup(width), 64};
    std::vector<std::byte> hot_bytes(hot.bytes());
    QuantizeKvRows(hot, x.data(), 0, 64, hot_bytes.data());
    DeviceVec<std::byte> dhot(hot_bytes);
    std::vector<float> rows(x.size());
    DequantizeKvRows(hot, hot_bytes.data(), 0, 64, rows.data());
    for (const KvBlockLayout& l : Layouts(width)) {
      if (!IsQuantized(l.format)) continue;
      const bool whole = l.grouping == KvGrouping::kPerChannel;
      const int row0 = whole ? 0 : 10, n = whole ? 64 : 30;
      std::vector<std::byte> want(l.bytes());
      QuantizeKvRows(l, rows.data() + int64_t{row0} * width, row0, n, want.data());
      DeviceVec<std::byte> got(std::vector<std::byte>(l.bytes()));
      gpu_->RequantizeKv(hot, dhot.data(), l, row0, n, got.data());
      EXPECT_TRUE(got.Download() == want) << Name(l.format) << " " << Name(l.grouping) << " width " << width;
    }
  }
}

struct Case {
  int bits;
  int window;
  bool keys_per_token;
  int64_t sliding;  // the layer's attention window (0 = global)
};

// Feeds both caches the same passes; Pass returns the largest ||cuda - cpu|| / ||cpu|| of a layer.
class KvPair {
 public:
  KvPair(Backend& cpu, Backend& gpu, const Case& c) : cpu_(cpu), gpu_(gpu), c_(c) {
    KvConfig kc;
    kc.n_layers = kLayers;
    kc.n_kv_heads = kKvHeads;
    kc.head_dim = kHeadDim;
    kc.max_positions = 512;
    kc.quant_bits = c.bits;
    kc.window = c.window;
    kc.keys_per_token = c.keys_per_token;
    auto h = TieredKvCache::Create(kc);
    auto d = TieredKvCache::Create(kc, &gpu);
    EXPECT_TRUE(h.ok() && d.ok());
    host_ = std::move(h).value();
    device_ = std::move(d).value();
  }

  double Pass(int n, std::mt19937& rng) {
    EXPECT_TRUE(host_->Reserve(n).ok());
    EXPECT_TRUE(device().Reserve(n).ok());
    double worst = 0;
    for (int l = 0; l < kLayers; ++l) {
      const std::vector<float> k = Rows(n, kKvHeads * kHeadDim, rng), v = Rows(n, kKvHeads * kHeadDim, rng);
      std::vector<float> q = Rows(n, kHeads * kHeadDim, rng);
      for (float& x : q) x *= 0.3f;
      std::vector<float> want(q.size());
      EXPECT_TRUE(host_->Write(l, k.data(), v.data(), n).ok());
      EXPECT_TRUE(
          host_->Attend(l, cpu_, q.data(), n, kHeads, kKvHeads, kHeadDim, 0.125f, c_.sliding, want.data()).ok());
      DeviceVec<float> dk(k), dv(v), dq(q), dout(std::vector<float>(q.size()));
      EXPECT_TRUE(device().Write(l, dk.data(), dv.data(), n).ok());
      EXPECT_TRUE(
          device().Attend(l, gpu_, dq.data(), n, kHeads, kKvHeads, kHeadDim, 0.125f, c_.sliding, dout.data()).ok());
      const std::vector<float> got = dout.Download();
      worst = std::max(worst, testing::RelNorm(got, want));
    }
    host_->Advance(n);
    device().Advance(n);
    const KvStats hs = host_->stats(), ds = device().stats();
    EXPECT_EQ(hs.hot_bytes, ds.hot_bytes);
    EXPECT_EQ(hs.cold_bytes, ds.cold_bytes);
    EXPECT_EQ(hs.read_ram_bytes, ds.read_ram_bytes);
    return worst;
  }

  // Both caches cut at n, the device one through a checkpoint copy.
  void CloneAndTruncate(int n) {
    Result<std::unique_ptr<KvCache>> copy = device_->Clone();
    ASSERT_TRUE(copy.ok()) << copy.status().message();
    device_.reset();
    copy_ = std::move(copy).value();
    EXPECT_EQ(copy_->Truncate(n), host_->Truncate(n));
  }

  KvCache& device() { return copy_ ? *copy_ : *device_; }

  static constexpr int kLayers = 2, kKvHeads = 3, kHeadDim = 64, kHeads = 9;

 private:
  Backend& cpu_;
  Backend& gpu_;
  Case c_;
  std::unique_ptr<KvCache> host_;
  std::unique_ptr<KvCache> device_;
  std::unique_ptr<KvCache> copy_;
};

TEST_F(CudaVsCpuTest, TieredKvCacheAttendsAsTheCpu) {
  const Case cases[] = {{8, 128, false, 0}, {8, 128, false, 100}, {4, 128, false, 0}, {4, 0, false, 0},
                        {8, 100, true, 0},  {4, 16, true, 50},    {0, 128, false, 0}, {8, 0, true, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.bits << "-bit, window " << c.window << ", keys per "
                                      << (c.keys_per_token ? "token" : "channel") << ", sliding " << c.sliding);
    std::mt19937 rng(7);
    KvPair pair(*cpu_, *gpu_, c);
    double worst = 0;
    // A prompt in chunks across block edges, decode steps over the window edge, another chunk.
    for (int n : {150, 37}) worst = std::max(worst, pair.Pass(n, rng));
    for (int i = 0; i < 30; ++i) worst = std::max(worst, pair.Pass(1, rng));
    worst = std::max(worst, pair.Pass(70, rng));
    pair.CloneAndTruncate(200);
    for (int i = 0; i < 20; ++i) worst = std::max(worst, pair.Pass(1, rng));
    EXPECT_LT(worst, kAttnBound);
    std::printf("%d-bit window %d keys per %s sliding %lld: ||cuda - cpu|| / ||cpu|| %.2e\n", c.bits, c.window,
                c.keys_per_token ? "token" : "channel", static_cast<long long>(c.sliding), worst);
  }
}

TEST_F(CudaVsCpuTest, DeviceKvCacheDoesNotSpill) {
  KvConfig kc;
  kc.n_layers = 1;
  kc.n_kv_heads = 1;
  kc.head_dim = 64;
  kc.max_positions = 64;
  kc.ram_bytes = 1 << 20;
  Result<std::unique_ptr<KvCache>> cache = MakeDeviceKvCache(kc, *gpu_);
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.status().message().find("--kv-ram"), std::string::npos) << cache.status().message();
}

}  // namespace
}  // namespace flashstream
