#include "backend/cpu/membw.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>

#include "core/check.h"
#include "core/thread_pool.h"

namespace flashstream {

unsigned long long ReadSum(const void* p, size_t bytes) {
  const auto* w = static_cast<const uint64_t*>(p);
  uint64_t acc[8] = {};
  for (size_t i = 0; i < bytes / 8; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += w[i + static_cast<size_t>(l)];
  }
  uint64_t sum = 0;
  for (uint64_t a : acc) sum ^= a;
  return sum;
}

double MeasureReadBandwidthGBps(ThreadPool& pool, size_t bytes, int passes) {
  constexpr size_t kAlign = 2 << 20;  // huge-page friendly
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  auto* buf = static_cast<unsigned char*>(std::aligned_alloc(kAlign, bytes));
  FS_CHECK(buf != nullptr, "cannot allocate {} bytes for the bandwidth probe", bytes);
  const int n = pool.size();
  const auto share = [&](int64_t t, size_t* begin, size_t* size) {
    *begin = static_cast<size_t>(SplitPoint(static_cast<int64_t>(bytes / 64), n, t)) * 64;
    *size = static_cast<size_t>(SplitPoint(static_cast<int64_t>(bytes / 64), n, t + 1)) * 64 - *begin;
  };
  pool.Run(n, [&](int64_t t, int) {  // first touch by the reading thread
    size_t b, s;
    share(t, &b, &s);
    std::memset(buf + b, static_cast<int>(t + 1), s);
  });
  double best = 0.0;
  unsigned long long sink = 0;
  std::vector<unsigned long long> sums(static_cast<size_t>(n));
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool.Run(n, [&](int64_t t, int) {
      size_t b, s;
      share(t, &b, &s);
      sums[static_cast<size_t>(t)] = ReadSum(buf + b, s);
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (unsigned long long v : sums) sink ^= v;
    best = std::max(best, static_cast<double>(bytes) / sec / 1e9);
  }
  std::free(buf);
  FS_CHECK(sink != 1, "impossible checksum");  // keeps the reads observable
  return best;
}

}  // namespace flashstream
