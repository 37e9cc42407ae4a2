// CPU matmul throughput on 7B-shaped matrices, against memory bandwidth measured in the
// same run.
//  decode:  y = W x for one token; the weights are cold (cycled through copies totalling
//           >= 512 MiB, far beyond the LLC), reported as GB/s of weight bytes read and as
//           a fraction of the read bandwidth. Rounds alternate a bandwidth probe and a pass
//           over the copies (the machine may be shared: both are noisy); reported: the best
//           of each, their ratio, and the median of the per-round ratios.
//  prefill: n_tok = 512 tokens at once, reported as GFLOP/s (2 n_out n_in n_tok / time).
// Usage: bench_kernels [--threads N=2] [--dtypes q8_0,q4_0,...] [--decode 0|1] [--prefill 0|1]
// The ISA is the CPU backend's choice (FS_CPU_ISA=generic|avx512 overrides). Prints JSON.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // JSON output

#include "backend/backend.h"
#include "backend/cpu/membw.h"
#include "backend/cpu/quant.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace fs = flashstream;

namespace {

struct Rng {  // xorshift64*: fast reproducible values; their distribution does not affect speed
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t Next() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  float Uniform() { return static_cast<float>(Next() >> 40) / static_cast<float>(1 << 24) * 2.f - 1.f; }
};

std::unique_ptr<std::byte[], decltype(&std::free)> Alloc(size_t bytes) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (p == nullptr) std::abort();
  return {p, &std::free};
}

void FillWeights(fs::DType dtype, int64_t n_out, int64_t n_in, std::byte* dst, Rng& rng) {
  const uint64_t row_bytes = fs::RowBytes(dtype, n_in);
  std::vector<float> v(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    std::byte* row = dst + r * row_bytes;
    for (float& x : v) x = 0.05f * rng.Uniform();
    switch (dtype) {
      case fs::DType::kF32: std::memcpy(row, v.data(), row_bytes); break;
      case fs::DType::kF16: fs::FloatToHalfRow(v.data(), reinterpret_cast<uint16_t*>(row), n_in); break;
      case fs::DType::kBF16: fs::FloatToBF16Row(v.data(), reinterpret_cast<uint16_t*>(row), n_in); break;
      case fs::DType::kQ8_0:
      case fs::DType::kQ4_0:
      case fs::DType::kQ4_1: fs::QuantizeRow(dtype, v.data(), row, n_in); break;
      default: {  // K-quants: random bits with a small f16 super-scale
        for (uint64_t i = 0; i < row_bytes; ++i) row[i] = static_cast<std::byte>(rng.Next() >> 56);
        const int bb = fs::Info(dtype).block_bytes;
        const uint16_t d = fs::FloatToHalf(0.001f);
        for (int64_t b = 0; b < n_in / 256; ++b) {
          std::byte* blk = row + b * bb;
          std::memcpy(blk + (dtype == fs::DType::kQ6_K ? 208 : 0), &d, 2);
          if (dtype != fs::DType::kQ6_K) std::memcpy(blk + 2, &d, 2);
        }
      }
    }
  }
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool prefill = true, decode_on = true;
  std::string dtype_list = "q8_0,q4_0,q4_1,f16,bf16";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--dtypes") == 0) dtype_list = argv[i + 1];
    else if (std::strcmp(argv[i], "--prefill") == 0) prefill = std::atoi(argv[i + 1]) != 0;
    else if (std::strcmp(argv[i], "--decode") == 0) decode_on = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--dtypes a,b] [--decode 0|1] [--prefill 0|1]\n", argv[0]);
      return 2;
    }
  }
  fs::ThreadPool pool(threads);
  auto backend = fs::MakeCpuBackend(pool);
  fs::ReadBandwidthProbe probe(pool, size_t{1} << 30);
  const double membw_start = probe.Measure();

  const int64_t shapes[3][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};  // [n_out, n_in]
  constexpr size_t kColdBytes = size_t{512} << 20;
  constexpr int64_t kPrefillTokens = 512;
  constexpr int kRounds = 5;
  nlohmann::json decode = nlohmann::json::array(), prefills = nlohmann::json::array();
  Rng rng;
  auto arena = Alloc(64);
  size_t arena_bytes = 0;
  std::stringstream names(dtype_list);
  for (std::string name; std::getline(names, name, ',');) {
    const auto dtype = fs::DTypeFromName(name);
    if (!dtype) {
      std::fprintf(stderr, "unknown dtype %s\n", name.c_str());
      return 2;
    }
    for (const auto& shape : shapes) {
      const int64_t n_out = shape[0], n_in = shape[1];
      const size_t bytes = fs::RowBytes(*dtype, n_in) * static_cast<size_t>(n_out);
      const size_t copies = decode_on ? std::max<size_t>(2, (kColdBytes + bytes - 1) / bytes) : 1;
      if (arena_bytes < bytes * copies) {  // one arena reused across shapes: fewer page faults
        arena = Alloc(bytes * copies);
        arena_bytes = bytes * copies;
      }
      std::byte* const weights = arena.get();
      FillWeights(*dtype, n_out, n_in, weights, rng);
      for (size_t c = 1; c < copies; ++c) std::memcpy(weights + c * bytes, weights, bytes);
      const auto view = [&](size_t c) {
        return fs::TensorView{weights + c * bytes, *dtype, fs::MakeShape({n_out, n_in})};
      };
      std::vector<float> x(static_cast<size_t>(kPrefillTokens * n_in)), y(static_cast<size_t>(kPrefillTokens * n_out));
      for (float& v : x) v = rng.Uniform();

      for (size_t c = 0; decode_on && c < copies; ++c) backend->MatMul(view(c), x.data(), 1, y.data());  // warm-up
      double best_gbps = 0.0, best_membw = 0.0, best_us = 0.0;
      std::vector<double> ratios;
      for (int round = 0; decode_on && round < kRounds; ++round) {
        const double membw = probe.Measure(1);
        const auto start = std::chrono::steady_clock::now();
        for (size_t c = 0; c < copies; ++c) backend->MatMul(view(c), x.data(), 1, y.data());
        const double sec = Seconds(start) / static_cast<double>(copies);
        const double gbps = static_cast<double>(bytes) / sec / 1e9;
        if (gbps > best_gbps) best_gbps = gbps, best_us = sec * 1e6;
        best_membw = std::max(best_membw, membw);
        ratios.push_back(gbps / membw);
      }
      std::sort(ratios.begin(), ratios.end());
      if (decode_on) decode.push_back({{"dtype", name},
                        {"n_out", n_out},
                        {"n_in", n_in},
                        {"us", best_us},
                        {"gbps", best_gbps},
                        {"membw_gbps", best_membw},
                        {"ratio", best_gbps / best_membw},
                        {"ratio_median_round", ratios[ratios.size() / 2]}});

      if (prefill) {
        double best = 1e30;
        for (int rep = 0; rep < 2; ++rep) {
          const auto t0 = std::chrono::steady_clock::now();
          backend->MatMul(view(0), x.data(), kPrefillTokens, y.data());
          best = std::min(best, Seconds(t0));
        }
        const double gflops = 2.0 * static_cast<double>(n_out * n_in * kPrefillTokens) / best / 1e9;
        prefills.push_back({{"dtype", name}, {"n_out", n_out}, {"n_in", n_in}, {"n_tok", kPrefillTokens},
                            {"ms", best * 1e3}, {"gflops", gflops}});
      }
    }
  }
  nlohmann::json out = {{"threads", threads},
                        {"backend", backend->Name()},
                        {"membw_gbps", membw_start},
                        {"decode", decode},
                        {"prefill", prefills}};
  std::printf("%s\n", out.dump(1).c_str());
  return 0;
}
