// BackendKvCache on the CPU backend (host memory): growth keeps the positions already written,
// Truncate forgets, the context limit is an error, and bytes() follows the capacity.
#include "kv/backend_kv_cache.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/thread_pool.h"

namespace flashstream {
namespace {

TEST(BackendKvCache, GrowthKeepsWrittenPositions) {
  ThreadPool pool(1);
  std::unique_ptr<Backend> backend = MakeCpuBackend(pool);
  const int layers = 2, width = 6;
  BackendKvCache kv(*backend, layers, width, 1000);
  // Write positions 0..299 in steps of 100: the capacity grows from 256 to 512 on the way.
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(kv.Reserve(100).ok());
    for (int l = 0; l < layers; ++l) {
      std::vector<float> k(100 * width), v(100 * width);
      for (int i = 0; i < 100 * width; ++i) {
        k[static_cast<size_t>(i)] = static_cast<float>(l * 100000 + step * 1000 + i);
        v[static_cast<size_t>(i)] = -k[static_cast<size_t>(i)];
      }
      ASSERT_TRUE(kv.Write(l, k.data(), v.data(), 100).ok());
    }
    kv.Advance(100);
  }
  EXPECT_EQ(kv.n_past(), 300);
  EXPECT_EQ(kv.bytes(), 2ull * layers * 512 * width * sizeof(float));
  for (int l = 0; l < layers; ++l) {
    for (int pos = 0; pos < 300; ++pos) {
      const float want = static_cast<float>(l * 100000 + (pos / 100) * 1000 + (pos % 100) * width);
      EXPECT_EQ(kv.Keys(l)[pos * width], want) << "layer " << l << " position " << pos;
      EXPECT_EQ(kv.Values(l)[pos * width], -want);
      if (HasFailure()) return;
    }
  }
}

TEST(BackendKvCache, TruncateAndContextLimit) {
  ThreadPool pool(1);
  std::unique_ptr<Backend> backend = MakeCpuBackend(pool);
  BackendKvCache kv(*backend, 1, 4, 10);
  ASSERT_TRUE(kv.Reserve(8).ok());
  kv.Advance(8);
  EXPECT_EQ(kv.Truncate(3), 3);
  EXPECT_EQ(kv.n_past(), 3);
  EXPECT_TRUE(kv.Reserve(7).ok());
  const Status full = kv.Reserve(8);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.message().find("11 positions needed, the context holds 10"), std::string::npos) << full.message();
}

}  // namespace
}  // namespace flashstream
