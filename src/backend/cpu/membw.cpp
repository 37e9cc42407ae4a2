#include "backend/cpu/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/thread_pool.h"

namespace flashstream {
namespace {

constexpr size_t kAlign = 2 << 20;  // huge-page friendly

// Thread t's share of a buffer of `bytes` split over n threads, in whole cache lines.
void Share(size_t bytes, int n, int64_t t, size_t* begin, size_t* size) {
  const auto lines = static_cast<int64_t>(bytes / 64);
  *begin = static_cast<size_t>(SplitPoint(lines, n, t)) * 64;
  *size = static_cast<size_t>(SplitPoint(lines, n, t + 1)) * 64 - *begin;
}

}  // namespace

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

ReadBandwidthProbe::ReadBandwidthProbe(ThreadPool& pool, size_t bytes)
    : pool_(pool), bytes_((bytes + kAlign - 1) / kAlign * kAlign) {
  buf_ = static_cast<unsigned char*>(std::aligned_alloc(kAlign, bytes_));
  FS_CHECK(buf_ != nullptr, "cannot allocate {} bytes for the bandwidth probe", bytes_);
  const int n = pool_.size();
  pool_.Run(n, [&](int64_t t, int) {  // first touch by the reading thread
    size_t b, s;
    Share(bytes_, n, t, &b, &s);
    std::memset(buf_ + b, static_cast<int>(t + 1), s);
  });
}

ReadBandwidthProbe::~ReadBandwidthProbe() { std::free(buf_); }

ReadBandwidthProbe::ReadBandwidthProbe(ReadBandwidthProbe&& other) noexcept
    : pool_(other.pool_), buf_(other.buf_), bytes_(other.bytes_) {
  other.buf_ = nullptr;
  other.bytes_ = 0;
}

double ReadBandwidthProbe::Measure(int passes) {
  const int n = pool_.size();
  std::vector<unsigned long long> sums(static_cast<size_t>(n));
  unsigned long long sink = 0;
  double best = 0.0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool_.Run(n, [&](int64_t t, int) {
      size_t b, s;
      Share(bytes_, n, t, &b, &s);
      sums[static_cast<size_t>(t)] = ReadSum(buf_ + b, s);
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (unsigned long long v : sums) sink ^= v;
    best = std::max(best, static_cast<double>(bytes_) / sec / 1e9);
  }
  FS_CHECK(sink != 1, "impossible checksum");  // keeps the reads observable
  return best;
}

double MeasureReadBandwidthGBps(ThreadPool& pool, size_t bytes, int passes) {
  ReadBandwidthProbe probe(pool, bytes);
  return probe.Measure(passes);
}

}  // namespace flashstream
