#include "backend/cpu/peak_flops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace flashstream {
namespace cpu {

float FmaChainsGeneric(int64_t iters) {
  constexpr int kChains = 12, kLanes = 8;
  float acc[kChains][kLanes];
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) acc[c][l] = 1.0f + 0.001f * static_cast<float>(c + l);
  }
  for (int64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) {
      for (int l = 0; l < kLanes; ++l) acc[c][l] = std::fma(acc[c][l], 0.999999f, 1e-7f);
    }
  }
  float sum = 0;
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) sum += acc[c][l];
  }
  return sum;
}

}  // namespace cpu

namespace {

// Best of `passes` of every pool thread running `chains` (which does `ops_per_thread`), in G/s.
template <typename Chains>
double BestRate(ThreadPool& pool, int passes, double ops_per_thread, Chains chains) {
  std::vector<double> sink(static_cast<size_t>(pool.size()));
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.Run(pool.size(), [&](int64_t task, int) { sink[static_cast<size_t>(task)] = chains(); });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, ops_per_thread * pool.size() / s / 1e9);
  }
  volatile double keep = sink[0];
  (void)keep;
  return best;
}

}  // namespace

double MeasurePeakF32Gflops(ThreadPool& pool, int passes) {
  const bool avx512 = GetCpuFeatures().HasAvx512Kernels();
  const int64_t iters = avx512 ? int64_t{20'000'000} : int64_t{2'000'000};
  const double flops_per_thread = static_cast<double>(iters) * 12 * (avx512 ? 16 : 8) * 2;
  return BestRate(pool, passes, flops_per_thread,
                  [&] { return avx512 ? cpu::FmaChainsAvx512(iters) : cpu::FmaChainsGeneric(iters); });
}

double MeasurePeakInt8Gops(ThreadPool& pool, int passes) {
  if (!GetCpuFeatures().HasAvx512Kernels()) return 0;  // that set includes VNNI
  const int64_t iters = 20'000'000;
  return BestRate(pool, passes, static_cast<double>(iters) * 12 * 64 * 2,
                  [&] { return static_cast<double>(cpu::DotChainsVnniAvx512(iters)); });
}

}  // namespace flashstream
