// Memory read bandwidth probe, shared by bench/ and the engine's benchmark so that kernel
// throughput is always reported against a ceiling measured in the same run.
#pragma once

#include <cstddef>

namespace flashstream {

class ThreadPool;

// Owns a `bytes`-byte buffer (make it >> the last-level cache), touched at construction by
// the threads that later read it. Measure() reads it with every thread of the pool, each
// streaming its contiguous share, and returns the best of `passes` passes in GB/s (1e9
// bytes per second). Borrows the pool; not thread-safe; move-only.
class ReadBandwidthProbe {
 public:
  ReadBandwidthProbe(ThreadPool& pool, size_t bytes);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(ReadBandwidthProbe&& other) noexcept;
  ReadBandwidthProbe& operator=(ReadBandwidthProbe&&) = delete;
  double Measure(int passes = 5);
  size_t bytes() const { return bytes_; }

 private:
  ThreadPool& pool_;
  unsigned char* buf_;
  size_t bytes_;
};

// One-shot probe: allocates, measures and frees.
double MeasureReadBandwidthGBps(ThreadPool& pool, size_t bytes, int passes = 5);

// Sums `bytes` (a multiple of 64) at `p` as 64-bit words; the result defeats dead-code
// elimination. The probe's read loop.
unsigned long long ReadSum(const void* p, size_t bytes);

}  // namespace flashstream
