// --device cuda end to end: loads MODEL on GPU 0 (resident, or with --vram GB streamed through
// the ring), times prefill of a P-token prompt and greedy decode of N tokens after a short
// prompt, and prints one JSON object with the ceilings measured in the same run:
// - HBM: a copy kernel over 1 GiB (bytes read + written per second); resident decode reads
//   bytes_per_token (every matrix once, one embedding row) per token;
// - PCIe: pinned host -> device copies of 1 GiB; streamed decode moves h2d_bytes_per_token over
//   it, so its limit is pcie_gbps / h2d_bytes_per_token;
// - bf16 tensor cores: the backend's own bf16 MatMul of 8192 x 8192 weights with 8192 tokens
//   (the prefill path with --bf16-act), in TFLOP/s.
// Prefill and decode are each run once untimed first (module loading, allocations), and the
// time of one layer's prefill attention (the model's shape, P tokens) is reported apart, through the
// path the run uses (with --bf16-act: the bf16 tensor-core kernel) and through the exact f32 one.
// Decode steps replay as CUDA graphs (decode_graph_replays counts them) unless --graphs 0.
//   bench_cuda_decode MODEL [--decode 64] [--prefill 2048] [--vram GB] [--ram GB] [--bf16-act 1] [--graphs 0]
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>  // JSON output
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_memory.h"
#include "backend/gpu.h"
#include "engine/session.h"

using namespace flashstream;

namespace {

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) {
    fmt::print(stderr, "bench_cuda_decode: {}: {}\n", what, r.status().message());
    std::exit(1);
  }
  return std::move(r).value();
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    fmt::print(stderr, "bench_cuda_decode: {}: {}\n", what, s.message());
    std::exit(1);
  }
}

// Best of 3 copy-kernel passes over 1 GiB, bytes read + written per second (GB/s).
double HbmCopyGBps(const cuda::Stream& stream) {
  const size_t bytes = size_t{1} << 30;
  auto a = Check(cuda::DeviceBuffer::Allocate(bytes), "copy source");
  auto b = Check(cuda::DeviceBuffer::Allocate(bytes), "copy destination");
  Check(cuda::CopyOnDevice(a.data(), b.data(), bytes, &stream), "first touch");
  auto timer = Check(cuda::EventTimer::Create(), "timer");
  double best = 0;
  for (int i = 0; i < 4; ++i) {
    Check(timer.Start(stream), "timer");
    Check(cuda::CopyWithKernel(b.data(), a.data(), bytes, stream), "copy");
    Check(timer.Stop(stream), "timer");
    const double ms = Check(timer.ElapsedMs(), "elapsed");
    if (i > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / (ms * 1e6));
  }
  return best;
}

// TFLOP/s of the backend's bf16 MatMul: w [n, n] bf16, x [n, n] f32 (converted inside).
double Bf16GemmTflops(const cuda::Stream& stream) {
  const int64_t n = 8192;
  auto backend = MakeCudaBackend(stream, CudaBackendOptions{true});
  std::vector<uint16_t> w(static_cast<size_t>(n * n));
  std::vector<float> x(static_cast<size_t>(n * n));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < w.size(); ++i) {
    const float v = 0.01f * u(rng);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    w[i] = static_cast<uint16_t>(bits >> 16);
    x[i] = u(rng);
  }
  auto dw = Check(cuda::DeviceBuffer::Allocate(w.size() * 2), "w");
  auto dx = Check(cuda::DeviceBuffer::Allocate(x.size() * 4), "x");
  auto dy = Check(cuda::DeviceBuffer::Allocate(x.size() * 4), "y");
  Check(cuda::CopyToDevice(dw.data(), w.data(), w.size() * 2), "w upload");
  Check(cuda::CopyToDevice(dx.data(), x.data(), x.size() * 4), "x upload");
  const TensorView view{dw.data(), DType::kBF16, MakeShape({n, n})};
  auto timer = Check(cuda::EventTimer::Create(), "timer");
  double best_ms = 0;
  for (int i = 0; i < 5; ++i) {
    Check(timer.Start(stream), "timer");
    backend->MatMul(view, dx.as<float>(), n, dy.as<float>());
    Check(timer.Stop(stream), "timer");
    const double ms = Check(timer.ElapsedMs(), "elapsed");
    if (i > 0 && (best_ms == 0 || ms < best_ms)) best_ms = ms;
  }
  return 2.0 * static_cast<double>(n) * n * n / (best_ms * 1e9);
}

// Milliseconds of one causal attention over n tokens with the model's head shape.
double AttentionMs(const cuda::Stream& stream, const ModelConfig& c, int64_t n, bool bf16) {
  auto backend = MakeCudaBackend(stream, CudaBackendOptions{bf16});
  const size_t q = static_cast<size_t>(n) * c.n_heads * c.head_dim,
               kv = static_cast<size_t>(n) * c.n_kv_heads * c.head_dim;
  std::vector<float> host(std::max(q, kv));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : host) v = u(rng);
  auto dq = Check(cuda::DeviceBuffer::Allocate(q * 4), "q");
  auto dk = Check(cuda::DeviceBuffer::Allocate(kv * 4), "k");
  auto dv = Check(cuda::DeviceBuffer::Allocate(kv * 4), "v");
  auto dout = Check(cuda::DeviceBuffer::Allocate(q * 4), "out");
  Check(cuda::CopyToDevice(dq.data(), host.data(), q * 4), "q upload");
  Check(cuda::CopyToDevice(dk.data(), host.data(), kv * 4), "k upload");
  Check(cuda::CopyToDevice(dv.data(), host.data(), kv * 4), "v upload");
  auto timer = Check(cuda::EventTimer::Create(), "timer");
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    Check(timer.Start(stream), "timer");
    backend->Attention(dq.as<float>(), dk.as<float>(), dv.as<float>(), n, n, c.n_heads, c.n_kv_heads, c.head_dim,
                       1.f / std::sqrt(static_cast<float>(c.head_dim)), 0, dout.as<float>());
    Check(timer.Stop(stream), "timer");
    const double ms = Check(timer.ElapsedMs(), "elapsed");
    if (i > 0 && (best == 0 || ms < best)) best = ms;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr,
               "usage: bench_cuda_decode MODEL [--decode N] [--prefill N] [--vram GB] [--ram GB] [--bf16-act 1]\n");
    return 2;
  }
  EngineOptions eo;
  eo.model_path = argv[1];
  eo.device = "cuda";
  int n_decode = 64, n_prefill = 2048;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string v = argv[i + 1];
    if (flag == "--decode")
      n_decode = std::atoi(v.c_str());
    else if (flag == "--prefill")
      n_prefill = std::atoi(v.c_str());
    else if (flag == "--vram")
      eo.vram_gib = std::atof(v.c_str());
    else if (flag == "--ram")
      eo.ram_gib = std::atof(v.c_str());
    else if (flag == "--bf16-act")
      eo.bf16_activations = v != "0";
    else if (flag == "--graphs" && v == "0")
      setenv("FS_CUDA_GRAPHS", "0", 1);  // decode steps launched kernel by kernel
  }
  eo.ctx = std::max(n_prefill, 8) + n_decode + 8;
  if (cuda::DeviceCount() == 0) {
    fmt::print(stderr, "bench_cuda_decode: no CUDA device\n");
    return 1;
  }
  auto stream = Check(cuda::Stream::Create(0), "stream");
  const double hbm = HbmCopyGBps(stream);
  const double pcie = Check(ProbeHostToDeviceGBps(0, size_t{1} << 30), "PCIe probe");
  const double bf16_tflops = Bf16GemmTflops(stream);

  const std::unique_ptr<Session> session = Check(Session::Open(eo, nullptr), "open");
  Session& s = *session;
  const ModelConfig& c = s.index().config;
  uint64_t weight_bytes = 0, embd_bytes = 0, matrix_params = 0;
  for (const TensorInfo& t : s.index().tensors) {
    weight_bytes += t.bytes;
    if (t.name.rfind("token_embd.", 0) == 0) embd_bytes += t.bytes;
    const bool companion = t.name.ends_with(".scales") || t.name.ends_with(".biases");
    const bool head = t.name != "token_embd.weight" || c.tied_embeddings;
    if (t.shape.rank == 2 && head && !companion) matrix_params += static_cast<uint64_t>(t.shape.elements());
  }
  const uint64_t bytes_per_token = weight_bytes - (c.tied_embeddings ? 0 : embd_bytes);

  GenerateOptions go;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  std::vector<int32_t> prompt(static_cast<size_t>(std::max(n_prefill, 8)));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(100 + (i * 7919) % (c.vocab_size - 200));
  RunStats pre;
  if (n_prefill > 0) {
    go.max_tokens = 1;
    for (int i = 0; i < 2; ++i) {  // the first run loads kernels and allocates: untimed
      pre = Check(s.Generate(prompt, go, nullptr), "prefill");
      s.Reset();
    }
  }
  go.max_tokens = 4;  // warm-up of the decode kernels
  Check(s.Generate(std::span<const int32_t>(prompt.data(), 8), go, nullptr), "decode warm-up");
  s.Reset();
  go.max_tokens = n_decode;
  const uint64_t replays_before = CudaStepReplays();
  const RunStats dec = Check(s.Generate(std::span<const int32_t>(prompt.data(), 8), go, nullptr), "decode");
  const uint64_t step_replays = CudaStepReplays() - replays_before;
  const double attention_ms = n_prefill > 0 ? AttentionMs(stream, c, n_prefill, eo.bf16_activations) : 0;
  const double attention_exact_ms = n_prefill > 0 ? AttentionMs(stream, c, n_prefill, false) : 0;
  const double decode_tps = dec.decode_tps();
  // Passes after the first sampled token: the decode steps; each copies the streamed layers in.
  const int steps = std::max(dec.generated_tokens - 1, 1);
  const int passes = steps + 1;  // with the prompt's pass (store stats cover the whole Generate)
  const double h2d_per_token = static_cast<double>(dec.store.h2d_bytes) / passes;
  const double prefill_tflops = pre.prefill_tps() * 2.0 * static_cast<double>(matrix_params) / 1e12;
  const double hbm_gbps_achieved = decode_tps * static_cast<double>(bytes_per_token) / 1e9;
  nlohmann::json out = {
      {"model", eo.model_path},
      {"backend", s.backend_name()},
      {"vram_gib", eo.vram_gib},
      {"resident_layers", s.plan().resident_layers()},
      {"n_layers", c.n_layers},
      {"weight_bytes", weight_bytes},
      {"bytes_per_token", bytes_per_token},
      {"hbm_copy_gbps", hbm},
      {"pcie_h2d_gbps", pcie},
      {"bf16_gemm_tflops", bf16_tflops},
      {"decode_tokens", dec.generated_tokens},
      {"decode_tps", decode_tps},
      {"decode_graph_replays", step_replays},
      {"decode_gbps", hbm_gbps_achieved},
      {"decode_ratio_to_hbm", hbm > 0 ? hbm_gbps_achieved / hbm : 0},
      {"h2d_bytes_per_token", h2d_per_token},
      {"streaming_limit_tps", h2d_per_token > 0 ? pcie * 1e9 / h2d_per_token : 0},
      {"streaming_ratio_to_limit", h2d_per_token > 0 ? decode_tps / (pcie * 1e9 / h2d_per_token) : 0},
      {"prefill_tokens", pre.prompt_tokens},
      {"prefill_tps", pre.prefill_tps()},
      {"prefill_tflops", prefill_tflops},
      {"prefill_ratio_to_bf16_gemm", bf16_tflops > 0 ? prefill_tflops / bf16_tflops : 0},
      {"prefill_attention_ms_per_layer", attention_ms},
      {"prefill_attention_exact_ms_per_layer", attention_exact_ms},
      {"prefill_attention_share", pre.prefill_seconds > 0 ? attention_ms * c.n_layers / 1e3 / pre.prefill_seconds : 0},
      {"gpu_memory_peak_bytes", dec.store.gpu_memory_peak},
      {"summary", FormatSummary(dec)},
  };
  fmt::print("{}\n", out.dump());
  return 0;
}
