// Decode GEMV bandwidth of the CUDA backend per weight dtype, as JSON on
// stdout. For 4096x4096 and 11008x4096 weights: the median time of one MatMul
// with one token, from CUDA-graph replays of many calls (no launch gaps) that
// rotate over enough weight copies to exceed the L2 cache several times; weight
// bytes / time = GB/s. The ceiling is measured in the same run: a 1 GiB
// device-to-device cudaMemcpy, counting bytes read plus written.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>  // the JSON report
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_memory.h"
#include "core/half.h"

namespace flashstream {
namespace {

constexpr size_t kRotateBytes = size_t{512} << 20;  // weight bytes cycled through per replay
constexpr int kTimedReplays = 7;

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "bench_cuda_matmul: %s: %s\n", what, r.status().message().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_cuda_matmul: %s: %s\n", what, s.message().c_str());
    std::exit(1);
  }
}

// Random weight bytes of `dtype` [n_out, n_in]: finite values; block scales set
// to f16 0.01 (values do not change speed, but NaN or inf would not be a
// realistic input).
std::vector<std::byte> RandomWeightBytes(DType dtype, int64_t n_out, int64_t n_in, std::mt19937& rng) {
  const size_t bytes = RowBytes(dtype, n_in) * static_cast<size_t>(n_out);
  std::vector<std::byte> w(bytes);
  std::uniform_int_distribution<uint32_t> word;
  std::uniform_real_distribution<float> val(-0.1f, 0.1f);
  const int64_t n = n_in * n_out;
  auto put16 = [&](size_t off, uint16_t h) { std::memcpy(w.data() + off, &h, 2); };
  switch (dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        const float f = val(rng);
        std::memcpy(w.data() + 4 * i, &f, 4);
      }
      return w;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        put16(2 * static_cast<size_t>(i), dtype == DType::kF16 ? FloatToHalf(val(rng)) : FloatToBF16(val(rng)));
      return w;
    default:
      break;
  }
  for (size_t i = 0; i + 4 <= bytes; i += 4) {
    const uint32_t r = word(rng);
    std::memcpy(w.data() + i, &r, 4);
  }
  const int block_bytes = Info(dtype).block_bytes;
  const uint16_t scale = FloatToHalf(0.01f);
  for (size_t b = 0; b < bytes / static_cast<size_t>(block_bytes); ++b) {
    const size_t off = b * static_cast<size_t>(block_bytes);
    if (dtype == DType::kQ6_K) {
      put16(off + 208, scale);
    } else {
      put16(off, scale);
      if (dtype == DType::kQ4_1 || dtype == DType::kQ4_K || dtype == DType::kQ5_K) put16(off + 2, scale);
    }
  }
  return w;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median device time (ms) of one replay of `graph`.
double TimeGraph(const cuda::Graph& graph, const cuda::Stream& stream) {
  auto timer = Check(cuda::EventTimer::Create(), "timer");
  Check(graph.Launch(stream), "warm-up replay");
  std::vector<double> ms;
  for (int i = 0; i < kTimedReplays; ++i) {
    Check(timer.Start(stream), "timer start");
    Check(graph.Launch(stream), "replay");
    Check(timer.Stop(stream), "timer stop");
    ms.push_back(Check(timer.ElapsedMs(), "elapsed"));
  }
  return Median(ms);
}

// Copy bandwidth of a 1 GiB buffer (bytes read + written per second): through the copy
// engines (cudaMemcpy) when `with_kernel` is false, else through a copy kernel.
double CopyBandwidthGBps(const cuda::Stream& stream, bool with_kernel) {
  const size_t bytes = size_t{1} << 30;
  auto a = Check(cuda::DeviceBuffer::Allocate(bytes), "copy source");
  auto b = Check(cuda::DeviceBuffer::Allocate(bytes), "copy destination");
  Check(cuda::CopyOnDevice(a.data(), b.data(), bytes, &stream), "first touch");
  cuda::Graph g;
  Check(g.BeginCapture(stream), "capture");
  for (int i = 0; i < 4; ++i) {
    Check(with_kernel ? cuda::CopyWithKernel(b.data(), a.data(), bytes, stream)
                      : cuda::CopyOnDevice(b.data(), a.data(), bytes, &stream),
          "copy");
  }
  Check(g.EndCapture(stream), "capture");
  const double ms = TimeGraph(g, stream);
  return 2.0 * 4 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

}  // namespace
}  // namespace flashstream

int main(int argc, char** argv) {
  // --only DTYPE limits the run to one dtype (for profiling one kernel).
  const std::string only = argc == 3 && std::string(argv[1]) == "--only" ? argv[2] : "";
  using namespace flashstream;
  if (cuda::DeviceCount() == 0) {
    std::fprintf(stderr, "bench_cuda_matmul: no CUDA device\n");
    return 1;
  }
  auto stream = Check(cuda::Stream::Create(0), "stream");
  auto backend = MakeCudaBackend(stream);
  nlohmann::json out;
  out["bench"] = "cuda_matmul_decode";
  out["device"] = Check(cuda::DeviceDescription(0), "device");
  const double copy_gbps = CopyBandwidthGBps(stream, false);
  const double kernel_copy_gbps = CopyBandwidthGBps(stream, true);
  out["d2d_copy_GBps"] = copy_gbps;
  out["d2d_copy_note"] = "cudaMemcpy device->device of 1 GiB, bytes read + written";
  out["kernel_copy_GBps"] = kernel_copy_gbps;
  out["kernel_copy_note"] = "grid-stride 16-byte copy kernel over 1 GiB, bytes read + written";
  std::mt19937 rng(7);
  const int64_t n_in = 4096;
  std::vector<float> x(static_cast<size_t>(n_in));
  for (float& v : x) v = std::uniform_real_distribution<float>(-1.f, 1.f)(rng);
  auto dx = Check(cuda::DeviceBuffer::Allocate(x.size() * sizeof(float)), "x");
  Check(cuda::CopyToDevice(dx.data(), x.data(), x.size() * sizeof(float)), "x upload");
  auto dy = Check(cuda::DeviceBuffer::Allocate(11008 * sizeof(float)), "y");
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    if (!only.empty() && only != Name(t)) continue;
    for (int64_t n_out : {int64_t{4096}, int64_t{11008}}) {
      const std::vector<std::byte> host = RandomWeightBytes(t, n_out, n_in, rng);
      const size_t bytes = host.size();
      const int copies = static_cast<int>(std::max<size_t>(1, (kRotateBytes + bytes - 1) / bytes));
      auto dw = Check(cuda::DeviceBuffer::Allocate(bytes * static_cast<size_t>(copies)), "weights");
      for (int c = 0; c < copies; ++c)
        Check(cuda::CopyToDevice(dw.data() + bytes * static_cast<size_t>(c), host.data(), bytes), "weights upload");
      const int calls = std::max(copies, 64);
      cuda::Graph g;
      Check(g.BeginCapture(stream), "capture");
      for (int i = 0; i < calls; ++i) {
        const TensorView w{dw.data() + bytes * static_cast<size_t>(i % copies), t, MakeShape({n_out, n_in})};
        backend->MatMul(w, dx.as<float>(), 1, dy.as<float>());
      }
      Check(g.EndCapture(stream), "capture");
      const double us = TimeGraph(g, stream) * 1e3 / calls;
      const double gbps = static_cast<double>(bytes) / (us * 1e-6) / 1e9;
      out["results"].push_back({{"dtype", std::string(Name(t))},
                                {"n_out", n_out},
                                {"n_in", n_in},
                                {"weight_bytes", bytes},
                                {"us_per_call", us},
                                {"GBps", gbps},
                                {"ratio_to_d2d", gbps / copy_gbps},
                                {"ratio_to_kernel_copy", gbps / kernel_copy_gbps}});
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
