// Memory read bandwidth probe, shared by bench/ and the engine's benchmark so that kernel
// throughput is always reported against a ceiling measured in the same run.
#pragma once

#include <cstddef>

namespace flashstream {

class ThreadPool;

// Reads a fresh `bytes`-byte buffer (make it >> the last-level cache) with every thread of
// `pool`, each thread streaming its contiguous share; returns the best of `passes` passes in
// GB/s (1e9 bytes per second). Allocates and touches the buffer first (not timed).
double MeasureReadBandwidthGBps(ThreadPool& pool, size_t bytes, int passes = 5);

// Sums `bytes` (a multiple of 64) at `p` as 64-bit words; the result defeats dead-code
// elimination. The read loop used by MeasureReadBandwidthGBps.
unsigned long long ReadSum(const void* p, size_t bytes);

}  // namespace flashstream
