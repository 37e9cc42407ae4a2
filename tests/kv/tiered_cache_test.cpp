// The host KV cache's tiers against a reference computed on the dequantized values: for every
// query p, key j is its f16 copy when j is inside p's window and its quantized copy otherwise
// (core/kv_quant.h applied to the f16 rows: per-channel keys in 64-row blocks, per-token values),
// and attention is evaluated in double. Covers window edges, block edges, prefill chunks and
// decode steps, sliding windows, spill to disk and read back, truncation and checkpoints.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "core/kv_quant.h"
#include "core/thread_pool.h"
#include "kv/tiered_kv_cache.h"

namespace flashstream {
namespace {

namespace fs = std::filesystem;
constexpr int kLayers = 2, kKvHeads = 2, kHeadDim = 32, kHeads = 4, kWidth = kKvHeads * kHeadDim;
constexpr int64_t G = TieredKvCache::kBlockRows;

struct Params {
  int bits;
  bool keys_per_token;
  int window;
  int64_t sliding;  // attention window of the layer (0 = global)
};

// K/V of every position of every layer, and what the cache should make of them.
struct History {
  std::vector<std::vector<float>> k, v;  // [layer][pos * width]
  History(int n, std::mt19937& rng) : k(kLayers), v(kLayers) {
    std::normal_distribution<float> noise(0.f, 1.f), offset(0.f, 3.f);
    for (int l = 0; l < kLayers; ++l) {
      std::vector<float> off(kWidth);
      for (float& o : off) o = offset(rng);
      for (int64_t i = 0; i < int64_t{n} * kWidth; ++i) {
        k[l].push_back(off[static_cast<size_t>(i % kWidth)] + noise(rng));
        v[l].push_back(noise(rng));
      }
    }
  }
};

// The f16 (hot) and dequantized (cold) rows of one layer, [n, width] each.
struct Tiers {
  std::vector<float> hot_k, hot_v, cold_k, cold_v;
};

Tiers MakeTiers(const Params& p, const std::vector<float>& k, const std::vector<float>& v) {
  const int64_t n = static_cast<int64_t>(k.size()) / kWidth;
  Tiers t;
  for (float x : k) t.hot_k.push_back(HalfToFloat(FloatToHalf(x)));
  for (float x : v) t.hot_v.push_back(HalfToFloat(FloatToHalf(x)));
  t.cold_k.resize(k.size());
  t.cold_v.resize(v.size());
  const KvFormat f = p.bits == 4 ? KvFormat::kQ4 : KvFormat::kQ8;
  const KvBlockLayout kl{f, p.keys_per_token ? KvGrouping::kPerToken : KvGrouping::kPerChannel, kWidth, 64, 64};
  const KvBlockLayout vl{f, KvGrouping::kPerToken, kWidth, 64, 64};
  for (int64_t b = 0; b * G < n; ++b) {
    const int rows = static_cast<int>(std::min(G, n - b * G));
    std::vector<std::byte> kb(kl.bytes()), vb(vl.bytes());
    const size_t off = static_cast<size_t>(b * G * kWidth);
    if (rows == G || p.keys_per_token) {  // a partial per-channel block is never quantized
      QuantizeKvRows(kl, t.hot_k.data() + off, 0, rows, kb.data());
      DequantizeKvRows(kl, kb.data(), 0, rows, t.cold_k.data() + off);
    }
    QuantizeKvRows(vl, t.hot_v.data() + off, 0, rows, vb.data());
    DequantizeKvRows(vl, vb.data(), 0, rows, t.cold_v.data() + off);
  }
  return t;
}

// out[n_q, heads, head_dim] in double for queries at pos0.. over the reference tiers. Rows below
// hot_from are read quantized whatever the window (their f16 copies were dropped before a
// truncation).
std::vector<float> Reference(const Params& p, const Tiers& t, const float* q, int64_t pos0, int n_q, float scale,
                             int64_t hot_from = 0) {
  std::vector<float> out(static_cast<size_t>(n_q) * kHeads * kHeadDim);
  for (int i = 0; i < n_q; ++i) {
    const int64_t pos = pos0 + i;
    int64_t boundary = 0;
    if (p.bits != 0) {
      boundary = std::max<int64_t>(0, pos - p.window + 1);
      if (!p.keys_per_token) boundary = boundary / G * G;
      boundary = std::max(boundary, hot_from);
    }
    const int64_t lo = p.sliding > 0 ? std::max<int64_t>(0, pos - p.sliding + 1) : 0;
    for (int h = 0; h < kHeads; ++h) {
      const int g = h / (kHeads / kKvHeads);
      const float* qh = q + (static_cast<int64_t>(i) * kHeads + h) * kHeadDim;
      std::vector<double> s;
      double m = -INFINITY;
      for (int64_t j = lo; j <= pos; ++j) {
        const float* kr = (j < boundary ? t.cold_k.data() : t.hot_k.data()) + j * kWidth + g * kHeadDim;
        double dot = 0;
        for (int d = 0; d < kHeadDim; ++d) dot += static_cast<double>(qh[d]) * kr[d];
        s.push_back(dot * scale);
        m = std::max(m, s.back());
      }
      double total = 0;
      for (double& x : s) total += (x = std::exp(x - m));
      for (int d = 0; d < kHeadDim; ++d) {
        double acc = 0;
        for (int64_t j = lo; j <= pos; ++j) {
          const float* vr = (j < boundary ? t.cold_v.data() : t.hot_v.data()) + j * kWidth + g * kHeadDim;
          acc += s[static_cast<size_t>(j - lo)] * vr[d];
        }
        out[(static_cast<size_t>(i) * kHeads + h) * kHeadDim + d] = static_cast<float>(acc / total);
      }
    }
  }
  return out;
}

KvConfig Config(const Params& p, int max_positions) {
  KvConfig c;
  c.n_layers = kLayers;
  c.n_kv_heads = kKvHeads;
  c.head_dim = kHeadDim;
  c.max_positions = max_positions;
  c.quant_bits = p.bits;
  c.window = p.window;
  c.keys_per_token = p.keys_per_token;
  return c;
}

// Feeds positions [from, to) in chunks of the given sizes (cycled); checks every layer's output
// against the reference and returns all outputs [layer][pos * heads * head_dim].
std::vector<std::vector<float>> Feed(KvCache& cache, Backend& be, const Params& p, const History& h,
                                     const std::vector<Tiers>& tiers, const std::vector<float>& q, int64_t from,
                                     int64_t to, const std::vector<int>& chunks, double* worst, int64_t hot_from = 0) {
  std::vector<std::vector<float>> outs(kLayers);
  const float scale = 1.f / std::sqrt(static_cast<float>(kHeadDim));
  size_t c = 0;
  for (int64_t pos = from; pos < to;) {
    const int n = static_cast<int>(std::min<int64_t>(chunks[c++ % chunks.size()], to - pos));
    EXPECT_TRUE(cache.Reserve(n).ok());
    EXPECT_EQ(cache.n_past(), pos);
    for (int l = 0; l < kLayers; ++l) {
      EXPECT_TRUE(cache.Write(l, h.k[l].data() + pos * kWidth, h.v[l].data() + pos * kWidth, n).ok());
      std::vector<float> out(static_cast<size_t>(n) * kHeads * kHeadDim);
      const float* qp = q.data() + pos * kHeads * kHeadDim;
      const Status st = cache.Attend(l, be, qp, n, kHeads, kKvHeads, kHeadDim, scale, p.sliding, out.data());
      EXPECT_TRUE(st.ok()) << st.message();
      const std::vector<float> want = Reference(p, tiers[static_cast<size_t>(l)], qp, pos, n, scale, hot_from);
      for (size_t i = 0; i < out.size(); ++i) {
        *worst = std::max(*worst, static_cast<double>(std::fabs(out[i] - want[i])));
        if (std::fabs(out[i] - want[i]) > 2e-5f) {
          ADD_FAILURE() << "layer " << l << " position " << pos + static_cast<int64_t>(i) / (kHeads * kHeadDim)
                        << " got " << out[i] << " want " << want[i];
          return outs;
        }
      }
      outs[static_cast<size_t>(l)].insert(outs[static_cast<size_t>(l)].end(), out.begin(), out.end());
    }
    cache.Advance(n);
    pos += n;
  }
  return outs;
}

class TieredCacheTest : public ::testing::TestWithParam<std::tuple<Params, CpuIsa>> {
 protected:
  void SetUp() override {
    if (!CpuIsaAvailable(std::get<1>(GetParam()))) GTEST_SKIP() << "this CPU lacks the ISA";
    be_ = MakeCpuBackend(pool_, CpuBackendOptions{std::get<1>(GetParam()), false});
  }
  const Params& params() const { return std::get<0>(GetParam()); }
  ThreadPool pool_{2};
  std::unique_ptr<Backend> be_;
  std::mt19937 rng_{11};
};

// Prefill chunks and decode steps cross window and block edges; every output equals the
// reference on the dequantized tiers.
TEST_P(TieredCacheTest, MatchesTheDequantizedReferenceAcrossTierEdges) {
  const Params& p = params();
  const int n = 330;
  History h(n, rng_);
  std::vector<Tiers> tiers;
  for (int l = 0; l < kLayers; ++l) tiers.push_back(MakeTiers(p, h.k[l], h.v[l]));
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> q(static_cast<size_t>(n) * kHeads * kHeadDim);
  for (float& x : q) x = d(rng_);
  Result<std::unique_ptr<TieredKvCache>> cache = TieredKvCache::Create(Config(p, 512));
  ASSERT_TRUE(cache.ok()) << cache.status().message();
  double worst = 0;
  Feed(**cache, *be_, p, h, tiers, q, 0, n, {1, 37, 64, 100, 1, 1, 3, 60}, &worst);
  const KvStats s = (*cache)->stats();
  if (p.bits != 0 && p.window < n) {
    EXPECT_GT(s.cold_bytes, 0u);
  }
  if (p.bits == 0) {
    EXPECT_EQ(s.cold_bytes, 0u);
  }
  // With 4 bits the quantized tier visibly moves the outputs: the cold path was taken.
  if (p.bits == 4 && p.window < 200 && p.sliding == 0) {
    Params all_hot = p;
    all_hot.bits = 0;
    const std::vector<float> hot = Reference(all_hot, tiers[0], q.data() + (n - 1) * kHeads * kHeadDim, n - 1, 1,
                                             1.f / std::sqrt(static_cast<float>(kHeadDim)));
    const std::vector<float> cold = Reference(p, tiers[0], q.data() + (n - 1) * kHeads * kHeadDim, n - 1, 1,
                                              1.f / std::sqrt(static_cast<float>(kHeadDim)));
    double diff = 0;
    for (size_t i = 0; i < hot.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(hot[i] - cold[i])));
    EXPECT_GT(diff, 1e-3);
  }
}

// Quantized blocks beyond a tiny RAM budget go to disk and come back bit for bit: outputs equal
// those of a cache that keeps everything in RAM. The file has no name in the folder. (Without a
// quantized tier nothing spills.)
TEST_P(TieredCacheTest, SpilledBlocksReadBackBitwise) {
  const Params& p = params();
  const int n = 300;
  History h(n, rng_);
  std::vector<Tiers> tiers;
  for (int l = 0; l < kLayers; ++l) tiers.push_back(MakeTiers(p, h.k[l], h.v[l]));
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> q(static_cast<size_t>(n) * kHeads * kHeadDim);
  for (float& x : q) x = d(rng_);
  const fs::path dir = fs::temp_directory_path() / ("fs_kv_spill_" + std::to_string(getpid()));
  fs::create_directories(dir);
  KvConfig spilled = Config(p, 512);
  spilled.ram_bytes = 1;
  spilled.spill_dir = dir.string();
  auto a = TieredKvCache::Create(Config(p, 512));
  auto b = TieredKvCache::Create(spilled);
  ASSERT_TRUE(a.ok() && b.ok());
  double worst = 0;
  const std::vector<int> chunks = {5, 64, 1, 1, 90, 17};
  const auto want = Feed(**a, *be_, p, h, tiers, q, 0, n, chunks, &worst);
  const auto got = Feed(**b, *be_, p, h, tiers, q, 0, n, chunks, &worst);
  EXPECT_EQ(want, got);
  const KvStats s = (*b)->stats();
  if (p.bits == 0) {
    EXPECT_EQ(s.disk_bytes, 0u) << "an unquantized cache never spills";
  }
  if (p.bits != 0 && p.window < n - 2 * G) {
    EXPECT_GT(s.disk_bytes, 0u);
    if (p.sliding == 0 || p.sliding > p.window + G) {
      EXPECT_GT(s.read_disk_bytes, 0u);
    } else {  // every quantized block is older than the attention window: never read back
      EXPECT_EQ(s.read_disk_bytes, 0u);
    }
    EXPECT_LT(s.cold_bytes, (*a)->stats().cold_bytes);
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "the spill file has a name";
  b->reset();
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

// Cutting the history and feeding different tokens gives what a fresh cache gives for the new
// history; a checkpoint copy continues exactly like the original.
TEST_P(TieredCacheTest, TruncateAndCloneContinueLikeAFreshCache) {
  const Params& p = params();
  const int n = 260;
  History h1(n, rng_), h2(n, rng_);
  const int cut = 150;
  History mixed = h1;  // positions < cut from h1, the rest from h2
  for (int l = 0; l < kLayers; ++l) {
    std::copy(h2.k[l].begin() + cut * kWidth, h2.k[l].end(), mixed.k[l].begin() + cut * kWidth);
    std::copy(h2.v[l].begin() + cut * kWidth, h2.v[l].end(), mixed.v[l].begin() + cut * kWidth);
  }
  std::vector<Tiers> t1, tm;
  for (int l = 0; l < kLayers; ++l) {
    t1.push_back(MakeTiers(p, h1.k[l], h1.v[l]));
    tm.push_back(MakeTiers(p, mixed.k[l], mixed.v[l]));
  }
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> q(static_cast<size_t>(n) * kHeads * kHeadDim);
  for (float& x : q) x = d(rng_);
  auto cache = TieredKvCache::Create(Config(p, 512));
  ASSERT_TRUE(cache.ok());
  double worst = 0;
  Feed(**cache, *be_, p, h1, t1, q, 0, 200, {64, 1, 7}, &worst);
  Result<std::unique_ptr<KvCache>> copy = (*cache)->Clone();
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  const int kept = (*cache)->Truncate(cut);
  EXPECT_LE(kept, cut);
  EXPECT_GE(kept, cut - G) << "at most one block is recomputed";
  // Positions kept..cut come again from h1 (the caller recomputes them), then h2's. Rows whose
  // f16 copies were dropped before the cut (below the last whole cold block) stay quantized.
  int64_t hot_lo = 0;
  if (p.bits != 0) {
    auto boundary = [&](int64_t pos) {
      const int64_t b = std::max<int64_t>(0, pos - p.window + 1);
      return p.keys_per_token ? b : b / G * G;
    };
    const int64_t freed = std::min(boundary(199), boundary(200 - TieredKvCache::kRewindRows)) / G * G;
    hot_lo = std::min<int64_t>(freed, kept);
  }
  Feed(**cache, *be_, p, mixed, tm, q, kept, n, {3, 50, 1}, &worst, hot_lo);
  // The checkpoint still holds h1's 200 positions and goes on like the original would.
  Feed(**copy, *be_, p, h1, t1, q, 200, n, {1, 20}, &worst);
}

// Speculative decoding rewinds a few rejected drafts: such cuts are exact, and the continuation
// equals a fresh run on the new history (no row stays quantized that a fresh run reads in f16).
TEST_P(TieredCacheTest, ShortRewindsAreExact) {
  const Params& p = params();
  const int n = 240, cut = 191;
  History h1(n, rng_), h2(n, rng_);
  History mixed = h1;
  for (int l = 0; l < kLayers; ++l) {
    std::copy(h2.k[l].begin() + cut * kWidth, h2.k[l].end(), mixed.k[l].begin() + cut * kWidth);
    std::copy(h2.v[l].begin() + cut * kWidth, h2.v[l].end(), mixed.v[l].begin() + cut * kWidth);
  }
  std::vector<Tiers> t1, tm;
  for (int l = 0; l < kLayers; ++l) {
    t1.push_back(MakeTiers(p, h1.k[l], h1.v[l]));
    tm.push_back(MakeTiers(p, mixed.k[l], mixed.v[l]));
  }
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> q(static_cast<size_t>(n) * kHeads * kHeadDim);
  for (float& x : q) x = d(rng_);
  auto cache = TieredKvCache::Create(Config(p, 512));
  ASSERT_TRUE(cache.ok());
  double worst = 0;
  Feed(**cache, *be_, p, h1, t1, q, 0, 190, {100, 1}, &worst);
  Feed(**cache, *be_, p, h1, t1, q, 190, cut + TieredKvCache::kRewindRows - 1, {1, 9}, &worst);
  EXPECT_EQ((*cache)->Truncate(cut), cut);
  Feed(**cache, *be_, p, mixed, tm, q, cut, n, {1, 9, 1, 30}, &worst);
}

std::string Name(const ::testing::TestParamInfo<std::tuple<Params, CpuIsa>>& info) {
  const Params& p = std::get<0>(info.param);
  return "q" + std::to_string(p.bits) + (p.keys_per_token ? "_ktoken" : "_kchannel") + "_w" + std::to_string(p.window) +
         "_swa" + std::to_string(p.sliding) + (std::get<1>(info.param) == CpuIsa::kAvx512 ? "_avx512" : "_generic");
}

INSTANTIATE_TEST_SUITE_P(Tiers, TieredCacheTest,
                         ::testing::Combine(::testing::Values(Params{8, false, 40, 0}, Params{4, false, 40, 0},
                                                              Params{8, true, 40, 0}, Params{4, true, 1, 0},
                                                              Params{4, true, 0, 0}, Params{8, false, 0, 0},
                                                              Params{4, false, 128, 90}, Params{8, true, 70, 50},
                                                              Params{0, false, 128, 0}, Params{8, false, 1000, 0}),
                                            ::testing::Values(CpuIsa::kGeneric, CpuIsa::kAvx512)),
                         Name);

}  // namespace
}  // namespace flashstream
