// Resident decode and prefill benchmark. Loads a model fully into memory, measures the
// machine's memory read bandwidth in the same run, then times prefill of a P-token prompt and
// greedy decode of N tokens. Prints one JSON object: tok/s, weight bytes read per token, the
// achieved GB/s and its ratio to the measured bandwidth, and prefill GFLOP/s against the f32
// FMA peak measured in the same run (the default kernels compute in f32), and against the int8
// VNNI peak (the --int8-act kernels' instruction, the highest arithmetic rate of these CPUs
// without AMX).
// MODEL is anything Session::Open reads (GGUF file, HF or MLX folder); a model without a
// tokenizer is driven by ids with greedy argmax.
//   bench_decode MODEL [--threads 2] [--decode 32] [--prefill 512] [--int8-act 1]
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>  // JSON output
#include <string>

#include "backend/cpu/membw.h"
#include "backend/cpu/peak_flops.h"
#include "core/thread_pool.h"
#include "engine/session.h"

using namespace flashstream;

// Generate() for models with a tokenizer; otherwise the same prefill + greedy decode on ids.
Result<RunStats> Run(Session& s, std::span<const int32_t> prompt, const GenerateOptions& go) {
  if (s.has_tokenizer()) return s.Generate(prompt, go, nullptr);
  RunStats st;
  st.prompt_tokens = static_cast<int>(prompt.size());
  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  FS_RETURN_IF_ERROR(s.Append(prompt, false, &logits));
  st.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < go.max_tokens; ++i) {
    const int32_t next[1] = {static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    ++st.generated_tokens;
    if (i + 1 == go.max_tokens) break;
    FS_RETURN_IF_ERROR(s.Append(next, false, &logits));
    ++st.decode_passes;
  }
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_decode MODEL [--threads N] [--decode N] [--prefill N] [--int8-act 0..3]\n");
    return 2;
  }
  EngineOptions eo;
  eo.model_path = argv[1];
  eo.threads = 2;
  int n_decode = 32, n_prefill = 512;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--threads")
      eo.threads = v;
    else if (flag == "--decode")
      n_decode = v;
    else if (flag == "--prefill")
      n_prefill = v;
    else if (flag == "--int8-act") {  // int8 digit levels: 0 = exact, 1 = int8, 2 = int8x2, 3 = int8x3
      eo.int8_activations = v != 0;
      eo.int8_levels = v > 1 ? v : 1;
    }
  }
  eo.ctx = n_prefill + n_decode + 8;
  double membw = 0, peak_gflops = 0, peak_int8_gops = 0;
  {
    ThreadPool pool(eo.threads);
    membw = MeasureReadBandwidthGBps(pool, size_t{1} << 30);
    peak_gflops = MeasurePeakF32Gflops(pool);
    peak_int8_gops = MeasurePeakInt8Gops(pool);
  }
  Result<std::unique_ptr<Session>> opened = Session::Open(eo, nullptr);
  if (!opened.ok()) {
    fmt::print(stderr, "bench_decode: {}\n", opened.status().message());
    return 1;
  }
  Session& s = **opened;
  const ModelConfig& c = s.index().config;
  uint64_t weight_bytes = 0, embd_bytes = 0;
  for (const TensorInfo& t : s.index().tensors) {
    weight_bytes += t.bytes;
    if (t.name.rfind("token_embd.", 0) == 0) embd_bytes += t.bytes;  // MLX: with its scales and biases
  }
  // Per decoded token every matrix is read once, the embedding table only one row (unless tied,
  // when it is also the output head).
  const uint64_t bytes_per_token = weight_bytes - (c.tied_embeddings ? 0 : embd_bytes);

  GenerateOptions go;
  go.sampling.temperature = 0;
  go.ignore_eos = true;
  // Prefill: P tokens, one output token.
  std::vector<int32_t> prompt(static_cast<size_t>(n_prefill));
  for (int i = 0; i < n_prefill; ++i) prompt[static_cast<size_t>(i)] = 100 + (i * 7919) % (c.vocab_size - 200);
  go.max_tokens = 1;
  Result<RunStats> pre = Run(s, prompt, go);
  // Decode: a short prompt, N tokens.
  s.Reset();
  go.max_tokens = n_decode;
  Result<RunStats> dec = Run(s, std::span<const int32_t>(prompt.data(), 8), go);
  if (!pre.ok() || !dec.ok()) {
    fmt::print(stderr, "bench_decode: {}\n", (!pre.ok() ? pre.status() : dec.status()).message());
    return 1;
  }
  const double decode_tps = dec->decode_tps();
  const double achieved = decode_tps * static_cast<double>(bytes_per_token) / 1e9;
  // 2 flops per weight per token in the matrix products.
  uint64_t matrix_params = 0;
  for (const TensorInfo& t : s.index().tensors) {
    const bool companion = t.name.ends_with(".scales") || t.name.ends_with(".biases");  // MLX
    const bool head = t.name != "token_embd.weight" || c.tied_embeddings;  // a tied table is also the output head
    if (t.shape.rank == 2 && head && !companion) matrix_params += static_cast<uint64_t>(t.shape.elements());
  }
  const double prefill_gflops = pre->prefill_tps() * 2.0 * static_cast<double>(matrix_params) / 1e9;
  nlohmann::json out = {
      {"model", eo.model_path},
      {"format", s.index().format},
      {"threads", eo.threads},
      {"backend", s.backend_name()},
      {"weight_bytes", weight_bytes},
      {"bytes_per_token", bytes_per_token},
      {"membw_read_gbps", membw},
      {"decode_tokens", dec->generated_tokens},
      {"decode_tps", decode_tps},
      {"decode_gbps", achieved},
      {"decode_ratio_to_membw", membw > 0 ? achieved / membw : 0},
      {"prefill_tokens", n_prefill},
      {"prefill_tps", pre->prefill_tps()},
      {"prefill_gflops", prefill_gflops},
      {"peak_f32_gflops", peak_gflops},
      {"prefill_ratio_to_f32_peak", peak_gflops > 0 ? prefill_gflops / peak_gflops : 0},
      {"peak_int8_gops", peak_int8_gops},  // vpdpbusd: the --int8-act kernels' instruction
      {"prefill_ratio_to_int8_peak", peak_int8_gops > 0 ? prefill_gflops / peak_int8_gops : 0},
      {"peak_rss_bytes", PeakRssBytes()},
  };
  fmt::print("{}\n", out.dump());
  return 0;
}
