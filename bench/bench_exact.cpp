// Exact (f32-activation) vs int8-activation (3, 2 and 1 digit levels) quantized matmul on 7B-shaped matrices, against
// the memory read bandwidth measured in the same run.
//  decode:  y = W x for one token with cold weights (cycled through copies totalling
//           >= 512 MiB, far beyond the LLC); GB/s of weight bytes and the fraction of the
//           read bandwidth. The two modes alternate within each of --reps rounds; the best
//           round is kept, as other processes may share the CPU.
//           --hot 1 instead times small matrices (8 MiB of bf16 at most) that stay in the
//           caches: the kernels' arithmetic ceiling, for telling compute- from memory-bound.
//  prefill: --prefill N tokens at once (0: skip), GFLOP/s = 2 n_out n_in N / time.
// Usage: bench_exact [--threads 2] [--dtypes q8_0,q4_0,q4_1] [--reps 3] [--prefill 0] [--hot 0]
// (--dtypes also takes bf16, timed once: float weights take f32 activations in every mode.)
// The ISA is the CPU backend's choice (FS_CPU_ISA=generic|avx512 overrides). Prints JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // JSON output

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/membw.h"
#include "backend/cpu/quant.h"
#include "core/thread_pool.h"

namespace fs = flashstream;

namespace {

struct Rng {  // xorshift64*: reproducible values; their distribution does not affect speed
  uint64_t s = 0x2545F4914F6CDD1Dull;
  uint64_t Next() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  float Uniform() { return static_cast<float>(Next() >> 40) / static_cast<float>(1 << 24) * 2.f - 1.f; }
};

using Buffer = std::unique_ptr<std::byte[], decltype(&std::free)>;

Buffer Alloc(size_t bytes) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (p == nullptr) std::abort();
  return {p, &std::free};
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Seconds per decode call, cycling through the weight copies for at least `min_s`.
double TimeDecode(fs::Backend& be, const std::vector<fs::TensorView>& copies, const float* x, float* y, double min_s) {
  for (const auto& w : copies) be.MatMul(w, x, 1, y);  // warm-up: page tables, code
  int64_t calls = 0;
  const auto start = std::chrono::steady_clock::now();
  while (calls < static_cast<int64_t>(2 * copies.size()) || Seconds(start) < min_s) {
    be.MatMul(copies[static_cast<size_t>(calls) % copies.size()], x, 1, y);
    ++calls;
  }
  return Seconds(start) / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 3;
  int64_t prefill = 0;
  bool hot = false;
  std::string dtype_list = "q8_0,q4_0,q4_1";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--dtypes") == 0) dtype_list = argv[i + 1];
    else if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--prefill") == 0) prefill = std::atoll(argv[i + 1]);
    else if (std::strcmp(argv[i], "--hot") == 0)
      hot = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--dtypes a,b] [--reps N] [--prefill N] [--hot 0/1]\n", argv[0]);
      return 2;
    }
  }
  fs::ThreadPool pool(threads);
  constexpr int kModes = 4;  // exact, then 3, 2 and 1 int8 digit levels
  std::unique_ptr<fs::Backend> modes[kModes] = {
      fs::MakeCpuBackend(pool, fs::CpuBackendOptions{fs::CpuIsa::kAuto, false}),
      fs::MakeCpuBackend(pool, fs::CpuBackendOptions{fs::CpuIsa::kAuto, true, 3}),
      fs::MakeCpuBackend(pool, fs::CpuBackendOptions{fs::CpuIsa::kAuto, true, 2}),
      fs::MakeCpuBackend(pool, fs::CpuBackendOptions{fs::CpuIsa::kAuto, true, 1})};
  const char* mode_names[kModes] = {"exact", "int8x3", "int8x2", "int8"};
  double membw = fs::MeasureReadBandwidthGBps(pool, size_t{1} << 30);

  const int64_t cold_shapes[3][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};  // [n_out, n_in]
  const int64_t hot_shapes[3][2] = {{512, 4096}, {256, 4096}, {1024, 2048}};
  const auto& shapes = hot ? hot_shapes : cold_shapes;
  constexpr size_t kColdBytes = size_t{512} << 20;
  nlohmann::json decode = nlohmann::json::array(), prefills = nlohmann::json::array();
  Rng rng;
  std::stringstream names(dtype_list);
  for (std::string name; std::getline(names, name, ',');) {
    const auto dtype = fs::DTypeFromName(name);
    const bool float_weights = dtype && *dtype == fs::DType::kBF16;
    if (!dtype || (!float_weights && (!fs::IsQuantized(*dtype) || fs::Info(*dtype).block_elems != 32))) {
      std::fprintf(stderr, "dtype %s: expected q8_0, q4_0, q4_1 or bf16\n", name.c_str());
      return 2;
    }
    const int n_modes = float_weights ? 1 : kModes;  // float weights take f32 activations in every mode
    for (const auto& shape : shapes) {
      const int64_t n_out = shape[0], n_in = shape[1];
      const size_t bytes = fs::RowBytes(*dtype, n_in) * static_cast<size_t>(n_out);
      const size_t n_copies = hot ? 1 : std::max<size_t>(2, (kColdBytes + bytes - 1) / bytes);
      Buffer weights = Alloc(bytes * n_copies);
      std::vector<float> v(static_cast<size_t>(n_out * n_in));
      for (float& f : v) f = 0.05f * rng.Uniform();
      for (int64_t r = 0; r < n_out && float_weights; ++r) {  // bf16: the top half of each f32
        auto* row = reinterpret_cast<uint16_t*>(weights.get() + static_cast<size_t>(r) * fs::RowBytes(*dtype, n_in));
        for (int64_t i = 0; i < n_in; ++i) {
          uint32_t bits;
          std::memcpy(&bits, &v[static_cast<size_t>(r * n_in + i)], 4);
          row[i] = static_cast<uint16_t>(bits >> 16);
        }
      }
      for (int64_t r = 0; r < n_out && !float_weights; ++r) {
        fs::QuantizeRow(*dtype, v.data() + r * n_in, weights.get() + static_cast<size_t>(r) * fs::RowBytes(*dtype, n_in), n_in);
      }
      std::vector<fs::TensorView> copies;
      for (size_t c = 0; c < n_copies; ++c) {
        if (c > 0) std::memcpy(weights.get() + c * bytes, weights.get(), bytes);
        copies.push_back(fs::TensorView{weights.get() + c * bytes, *dtype, fs::MakeShape({n_out, n_in})});
      }
      const int64_t n_x = std::max<int64_t>(prefill, 1);
      std::vector<float> x(static_cast<size_t>(n_x * n_in)), y(static_cast<size_t>(n_x * n_out));
      for (float& f : x) f = rng.Uniform();

      double best[kModes] = {1e30, 1e30, 1e30, 1e30};
      for (int rep = 0; rep < reps; ++rep) {
        for (int m = 0; m < n_modes; ++m)
          best[m] = std::min(best[m], TimeDecode(*modes[m], copies, x.data(), y.data(), 0.3));
      }
      for (int m = 0; m < n_modes; ++m) {
        const double gbps = static_cast<double>(bytes) / best[m] / 1e9;
        decode.push_back({{"dtype", name}, {"mode", mode_names[m]}, {"n_out", n_out}, {"n_in", n_in},
                          {"us", best[m] * 1e6}, {"gbps", gbps}});
      }
      if (prefill > 0) {
        double pbest[kModes] = {1e30, 1e30, 1e30, 1e30};
        for (int rep = 0; rep < reps; ++rep) {
          for (int m = 0; m < n_modes; ++m) {
            const auto t0 = std::chrono::steady_clock::now();
            modes[m]->MatMul(copies[0], x.data(), prefill, y.data());
            pbest[m] = std::min(pbest[m], Seconds(t0));
          }
        }
        for (int m = 0; m < n_modes; ++m) {
          prefills.push_back({{"dtype", name}, {"mode", mode_names[m]}, {"n_out", n_out}, {"n_in", n_in},
                              {"n_tok", prefill}, {"ms", pbest[m] * 1e3},
                              {"gflops", 2.0 * static_cast<double>(n_out * n_in * prefill) / pbest[m] / 1e9}});
        }
      }
    }
  }
  membw = std::max(membw, fs::MeasureReadBandwidthGBps(pool, size_t{1} << 30));
  for (auto& d : decode) d["ratio_to_membw"] = d["gbps"].get<double>() / membw;
  nlohmann::json out = {{"threads", threads},  {"hot", hot},       {"backend", modes[0]->Name()},
                        {"membw_gbps", membw}, {"decode", decode}, {"prefill", prefills}};
  std::printf("%s\n", out.dump(1).c_str());
  return 0;
}
