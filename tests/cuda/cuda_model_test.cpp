// Whole models with --device cuda, against the CPU and against themselves:
// - synthetic Llama-shaped models of every dtype the generator writes (GGUF f32/f16/bf16/q8_0/
//   q4_0/q4_1 and MLX 4/8-bit folders): CUDA vs CPU logits within kModelBound at every prompt
//   position and decode step;
// - the same models with a --vram budget that streams most layers, from pinned host memory and
//   (with --ram) from disk: logits bitwise identical to the GPU-resident run;
// - the real SmolLM2-135M Q4_1 (FS_MODEL_SMOLLM2): logits within the golden bounds of the
//   transformers reference and of the CPU, and 64 greedy tokens identical to the CPU's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cuda_test_util.h"
#include "e2e/logit_reference.h"
#include "e2e/synth_models.h"
#include "e2e/test_env.h"
#include "engine/session.h"
#include "formats/model_reader.h"
#include "store/streaming_store.h"

namespace flashstream {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// CUDA vs CPU logits: both compute every product in f32 from the same weight values (the
// kernel tests bound each matmul output at 1e-5 of sum |w x|); what differs is the order of
// f32 additions, and the CPU reference of the golden tests differs from transformers the same
// way at NMSE ~5e-12. We allow NMSE 1e-9 (the golden tests' bound against transformers);
// one wrong weight block moves the logits of these models by more than 1e-4 NMSE.
constexpr double kModelBound = 1e-9;

struct ModelRun {
  std::vector<float> prefill;             // [n_prompt, vocab]
  std::vector<std::vector<float>> steps;  // decode steps, [vocab] each
  StoreStats stats;
  int resident_layers = 0;  // the plan's layers resident on the device that computes
};

Result<ModelRun> RunModel(const std::string& path, const std::string& device, double vram_gib, double ram_gib) {
  EngineOptions o;
  o.model_path = path;
  o.threads = 2;
  o.ctx = 256;
  o.device = device;
  o.kv_quant = 0;  // the CPU side keeps f32 K/V like the GPU's cache (docs/KV_CACHE.md)
  o.kv_f32 = true;
  o.vram_gib = vram_gib;
  o.ram_gib = ram_gib;
  o.prefetch_slots = 3;
  FS_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::Open(o, nullptr));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(3 + (i * 37) % 256);
  ModelRun out;
  FS_RETURN_IF_ERROR(s->Evaluate(prompt, &out.prefill));
  for (int step = 0; step < 6; ++step) {
    std::vector<float> logits;
    const int32_t next[1] = {static_cast<int32_t>(3 + (step * 91) % 256)};
    FS_RETURN_IF_ERROR(s->Append(next, false, &logits));
    out.steps.push_back(logits);
  }
  out.stats = s->store().stats();
  out.resident_layers = s->plan().resident_layers();
  return out;
}

// sum (a - b)^2 / sum b^2.
double Nmse(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, r = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    r += static_cast<double>(b[i]) * b[i];
  }
  return e / r;
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Bytes of the globals and of the largest layer, as the planners count them.
std::pair<uint64_t, uint64_t> GlobalAndLayerBytes(const std::string& path) {
  Result<ModelIndex> index = ReadModel(path);
  EXPECT_TRUE(index.ok());
  const LayerLayout layout = MeasureLayout(*index);
  return {layout.global_bytes, *std::max_element(layout.layer_bytes.begin(), layout.layer_bytes.end())};
}

class CudaModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) {
      const char* req = std::getenv("FS_REQUIRE_CUDA");
      if (req != nullptr && std::string(req) == "1") FAIL() << "FS_REQUIRE_CUDA=1 but no CUDA device is visible";
      GTEST_SKIP() << "no CUDA device";
    }
    vocab_ = testing::WriteByteVocab();
  }
  void TearDown() override {
    for (const std::string& p : cleanup_) std::filesystem::remove_all(p);
    if (!vocab_.empty()) std::remove(vocab_.c_str());
  }
  std::string Model(DType dtype, int layers) {
    cleanup_.push_back(testing::WriteSynthModel(dtype, layers, vocab_));
    return cleanup_.back();
  }

  std::string vocab_;
  std::vector<std::string> cleanup_;
};

constexpr DType kModelDtypes[] = {DType::kF32,  DType::kF16,  DType::kBF16,  DType::kQ8_0,
                                  DType::kQ4_0, DType::kQ4_1, DType::kMlxQ4, DType::kMlxQ8};

TEST_F(CudaModelTest, LogitsMatchTheCpuForEveryDtype) {
  for (DType dtype : kModelDtypes) {
    SCOPED_TRACE(std::string(Name(dtype)));
    const std::string model = Model(dtype, 3);
    Result<ModelRun> cpu = RunModel(model, "cpu", 0, 0);
    Result<ModelRun> gpu = RunModel(model, "cuda", 0, 0);
    ASSERT_TRUE(cpu.ok()) << cpu.status().message();
    ASSERT_TRUE(gpu.ok()) << gpu.status().message();
    EXPECT_EQ(gpu->stats.h2d_bytes, 0u);  // resident: nothing copied after load
    EXPECT_GT(gpu->stats.gpu_memory_peak, gpu->stats.resident_bytes);
    const double prefill = Nmse(gpu->prefill, cpu->prefill);
    EXPECT_LT(prefill, kModelBound) << "prefill";
    double worst_step = 0;
    for (size_t i = 0; i < cpu->steps.size(); ++i)
      worst_step = std::max(worst_step, Nmse(gpu->steps[i], cpu->steps[i]));
    EXPECT_LT(worst_step, kModelBound) << "decode";
    std::printf("%s: CUDA vs CPU NMSE prefill %.2e, decode %.2e\n", std::string(Name(dtype)).c_str(), prefill,
                worst_step);
  }
}

TEST_F(CudaModelTest, StreamedEqualsResidentBitwise) {
  for (DType dtype : {DType::kQ8_0, DType::kBF16, DType::kQ4_1, DType::kMlxQ4}) {
    SCOPED_TRACE(std::string(Name(dtype)));
    const std::string model = Model(dtype, 8);
    // GPU: globals, a ring of 2 and 2 resident layers (6 of 8 stream); host: a ring of 2 and
    // 1 resident layer of the 6 (5 read from disk every pass).
    const auto [global, layer] = GlobalAndLayerBytes(model);
    const double vram = static_cast<double>(global + 4 * layer + layer / 2) / kGiB;
    Result<ModelRun> resident = RunModel(model, "cuda", 0, 0);
    ASSERT_TRUE(resident.ok()) << resident.status().message();
    for (double ram : {0.0, static_cast<double>(3 * layer + layer / 2) / kGiB}) {
      SCOPED_TRACE(ram > 0 ? "from disk (--ram)" : "from pinned memory");
      Result<ModelRun> streamed = RunModel(model, "cuda", vram, ram);
      ASSERT_TRUE(streamed.ok()) << streamed.status().message();
      EXPECT_GT(streamed->stats.h2d_bytes, 0u);
      EXPECT_EQ(streamed->resident_layers, 2);
      EXPECT_LE(streamed->stats.resident_bytes + streamed->stats.staging_bytes,
                static_cast<uint64_t>(vram * kGiB) + 4096);
      if (ram > 0) EXPECT_GT(streamed->stats.bytes_read, 0u);
      EXPECT_TRUE(BitwiseEqual(resident->prefill, streamed->prefill)) << "prefill";
      ASSERT_EQ(resident->steps.size(), streamed->steps.size());
      for (size_t i = 0; i < resident->steps.size(); ++i) {
        EXPECT_TRUE(BitwiseEqual(resident->steps[i], streamed->steps[i])) << "decode step " << i;
      }
    }
  }
}

TEST_F(CudaModelTest, RecordedDecodeStepsEqualDirectLaunchesBitwise) {
  for (DType dtype : {DType::kF16, DType::kQ4_0}) {
    SCOPED_TRACE(std::string(Name(dtype)));
    const std::string model = Model(dtype, 4);
    ::setenv("FS_CUDA_GRAPHS", "0", 1);
    const uint64_t before_direct = CudaStepReplays();
    Result<ModelRun> direct = RunModel(model, "cuda", 0, 0);
    const uint64_t after_direct = CudaStepReplays();
    ::unsetenv("FS_CUDA_GRAPHS");
    Result<ModelRun> replayed = RunModel(model, "cuda", 0, 0);
    ASSERT_TRUE(direct.ok()) << direct.status().message();
    ASSERT_TRUE(replayed.ok()) << replayed.status().message();
    EXPECT_EQ(after_direct, before_direct);
    // 6 steps: the first runs directly, the second is recorded and replayed, the rest replay.
    EXPECT_EQ(CudaStepReplays() - after_direct, 5u);
    EXPECT_TRUE(BitwiseEqual(direct->prefill, replayed->prefill)) << "prefill";
    ASSERT_EQ(direct->steps.size(), replayed->steps.size());
    for (size_t i = 0; i < direct->steps.size(); ++i) {
      EXPECT_TRUE(BitwiseEqual(direct->steps[i], replayed->steps[i])) << "decode step " << i;
    }
  }
}

TEST_F(CudaModelTest, VramBelowTheWorkingSetIsAnError) {
  const std::string model = Model(DType::kQ8_0, 4);
  Result<ModelRun> r = RunModel(model, "cuda", 1e-6, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--vram"), std::string::npos) << r.status().message();
}

// Speculative decoding on the GPU (with the default tiered KV cache): verification passes run
// tokenwise (Backend::SetTokenwise), so greedy output is plain decoding's token for token,
// resident and streamed, by a draft model (the
// model itself: its drafts are right, so passes verify several tokens), by prompt lookup, and
// (streamed) by the self-draft copy in device memory.
TEST_F(CudaModelTest, SpeculativeDecodingEmitsPlainDecodingsTokens) {
  std::vector<int32_t> prompt;
  for (int rep = 0; rep < 3; ++rep)
    for (int i = 0; i < 12; ++i) prompt.push_back(3 + (i * 37) % 256);  // a repeated phrase for lookup
  struct Mode {
    bool draft_model = false;
    int lookup = 0, self_draft = 0;
  };
  auto generate = [&](const std::string& model, double vram, Mode mode, RunStats* stats) {
    EngineOptions o;
    o.model_path = model;
    o.ctx = 256;
    o.device = "cuda";
    o.vram_gib = vram;
    if (mode.draft_model) o.draft_model_path = model;
    o.self_draft_bits = mode.self_draft;
    o.self_draft_cache = "none";
    Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
    EXPECT_TRUE(s.ok()) << s.status().message();
    std::vector<int32_t> out;
    if (!s.ok()) return out;
    GenerateOptions go;
    go.sampling.temperature = 0;
    go.ignore_eos = true;
    go.max_tokens = 48;
    go.lookup_ngram = mode.lookup;
    go.draft_max = 8;
    Result<RunStats> r = (*s)->Generate(prompt, go, nullptr, nullptr, &out);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (r.ok()) *stats = *r;
    return out;
  };
  for (DType dtype : {DType::kQ4_0, DType::kF16}) {
    const std::string model = Model(dtype, 6);
    const auto [global, layer] = GlobalAndLayerBytes(model);
    for (double vram : {0.0, static_cast<double>(global + 4 * layer) / kGiB}) {
      const std::string where = std::string(Name(dtype)) + (vram > 0 ? " streamed" : " resident");
      SCOPED_TRACE(where);
      RunStats plain_stats, model_stats, lookup_stats, self_stats;
      const std::vector<int32_t> plain = generate(model, vram, {}, &plain_stats);
      ASSERT_EQ(plain.size(), 48u);
      EXPECT_EQ(generate(model, vram, {.draft_model = true}, &model_stats), plain) << "draft model";
      EXPECT_GT(model_stats.accepted_tokens, 0);
      EXPECT_EQ(generate(model, vram, {.lookup = 3}, &lookup_stats), plain) << "lookup";
      // A resident model has nothing to self-draft for, and a 4-bit copy of Q4_0 layers is no
      // smaller than they are (--vram cannot hold it: refused, as with --ram).
      if (vram > 0 && dtype == DType::kF16) {
        EXPECT_EQ(generate(model, vram, {.self_draft = 4}, &self_stats), plain) << "self-draft";
        EXPECT_GT(self_stats.drafted_tokens, 0);
        EXPECT_GT(self_stats.self_draft_bytes, 0u);
      }
      std::printf("%s: draft model %d/%d accepted, lookup %d/%d, self-draft %d/%d\n", where.c_str(),
                  model_stats.accepted_tokens, model_stats.drafted_tokens, lookup_stats.accepted_tokens,
                  lookup_stats.drafted_tokens, self_stats.accepted_tokens, self_stats.drafted_tokens);
    }
  }
}

// kv_quant 0: exact f32 K/V on both sides (the GPU's BackendKvCache); 8 or 4: the tiered cache
// with its defaults on both (FP16 window, per-channel keys; in device memory on the GPU).
std::unique_ptr<Session> OpenSmolLm2(const std::string& device, int kv_quant = 0) {
  EngineOptions o;
  o.model_path = testing::SmolLm2Path();
  o.threads = 4;
  o.ctx = 512;
  o.device = device;
  o.kv_quant = kv_quant;
  o.kv_f32 = kv_quant == 0;
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST_F(CudaModelTest, SmolLm2LogitsMatchTransformersAndTheCpu) {
  FS_REQUIRE_SMOLLM2();
  std::unique_ptr<Session> gpu = OpenSmolLm2("cuda");
  std::unique_ptr<Session> cpu = OpenSmolLm2("cpu");
  ASSERT_NE(gpu, nullptr);
  ASSERT_NE(cpu, nullptr);
  // The CPU's own bound against transformers (golden_test.cpp's kExact).
  testing::ExpectLogitsMatchReference(*gpu, "smollm2_logits", {1e-9, 2e-3, 1e-3}, "cuda ");
  const Result<ModelIndex> index = ReadModel(testing::SmolLm2Path());
  ASSERT_TRUE(index.ok());
  std::vector<int32_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(static_cast<int32_t>((i * 7919 + 11) % index->config.vocab_size));
  std::vector<float> a, b;
  ASSERT_TRUE(gpu->Evaluate(ids, &a).ok());
  ASSERT_TRUE(cpu->Evaluate(ids, &b).ok());
  const double nmse = Nmse(a, b);
  std::printf("SmolLM2 CUDA vs CPU, 100 positions: NMSE %.2e\n", nmse);
  EXPECT_LT(nmse, kModelBound);
}

class CudaModelKvTest : public CudaModelTest, public ::testing::WithParamInterface<int> {};

// The same greedy tokens on both backends, with exact f32 K/V (0) and with the 8-bit tiered cache.
TEST_P(CudaModelKvTest, SmolLm2GreedyTokensMatchTheCpuFor64Tokens) {
  FS_REQUIRE_SMOLLM2();
  std::unique_ptr<Session> gpu = OpenSmolLm2("cuda", GetParam());
  std::unique_ptr<Session> cpu = OpenSmolLm2("cpu", GetParam());
  ASSERT_NE(gpu, nullptr);
  ASSERT_NE(cpu, nullptr);
  for (const char* text : {"The history of the printing press", "Write a short poem about the sea."}) {
    const std::vector<int32_t> prompt = cpu->tokenizer().Encode(text, true, false);
    GenerateOptions go;
    go.sampling.temperature = 0;
    go.ignore_eos = true;
    go.max_tokens = 64;
    std::vector<int32_t> want, got;
    ASSERT_TRUE(cpu->Generate(prompt, go, nullptr, nullptr, &want).ok());
    Result<RunStats> stats = gpu->Generate(prompt, go, nullptr, nullptr, &got);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    ASSERT_EQ(want.size(), 64u);
    EXPECT_EQ(got, want) << text;
    std::printf("--kv-quant %d, %s: %zu greedy tokens, CUDA == CPU: %s; %s\n", GetParam(), text, got.size(),
                got == want ? "yes" : "no", FormatSummary(*stats).c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(KvQuant, CudaModelKvTest, ::testing::Values(0, 8),
                         [](const ::testing::TestParamInfo<int>& info) { return "Q" + std::to_string(info.param); });

}  // namespace
}  // namespace flashstream
