// Arithmetic peak probe: the f32 fused-multiply-add throughput of a thread pool, measured on
// register-resident data, so benchmarks report compute-bound phases (prefill) against a
// ceiling measured in the same run, as ReadBandwidthProbe does for memory.
#pragma once

#include <cstdint>

namespace flashstream {

class ThreadPool;

// GFLOP/s (an FMA counts 2) of every thread of `pool` running independent FMA chains with the
// widest vectors the CPU has (AVX-512 when the kernels use it), best of `passes`. Borrows the
// pool; not thread-safe.
double MeasurePeakF32Gflops(ThreadPool& pool, int passes = 5);

// Giga int8 operations/s (a multiply-add counts 2) of vpdpbusd chains, the instruction of the
// int8-activation kernels (--int8-act); 0 without AVX-512 VNNI. Same contract as above.
double MeasurePeakInt8Gops(ThreadPool& pool, int passes = 5);

namespace cpu {
// `iters` rounds of 12 independent 16-lane FMA chains; returns a value that defeats dead-code
// elimination. Flops done: iters * 12 * 16 * 2. Precondition: AVX-512F.
float FmaChainsAvx512(int64_t iters);
// `iters` rounds of 12 independent vpdpbusd chains (64 multiply-adds each). Precondition:
// AVX-512 VNNI.
int32_t DotChainsVnniAvx512(int64_t iters);
// The same with plain scalar code (flops: iters * 12 * 8 * 2 over 8-float arrays).
float FmaChainsGeneric(int64_t iters);
}  // namespace cpu

}  // namespace flashstream
