// Mixture-of-experts models stream bitwise: synthetic Mixtral (llama with experts), Qwen3-MoE
// and Qwen2-MoE GGUFs (stacked experts) give identical logits fully resident and streamed at
// the minimum working set and half-way to the whole model, for a prefill and for every decode
// step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "engine/session.h"
#include "formats/model_reader.h"
#include "formats/synth.h"
#include "store/streaming_store.h"
#include "synth_models.h"
#include "test_env.h"

namespace flashstream {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct MoeRun {
  std::vector<float> prefill;             // [n_prompt, vocab]
  std::vector<std::vector<float>> steps;  // [vocab] per decode step
  StoreStats stats;
};

Result<MoeRun> RunModel(const std::string& path, double ram_gib) {
  EngineOptions o;
  o.model_path = path;
  o.threads = 2;
  o.ctx = 128;
  o.ram_gib = ram_gib;
  FS_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::Open(o, nullptr));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(3 + (i * 37) % 256);
  MoeRun out;
  FS_RETURN_IF_ERROR(s->Evaluate(prompt, &out.prefill));
  for (int step = 0; step < 6; ++step) {
    std::vector<float> logits;
    const int32_t next[1] = {static_cast<int32_t>(3 + (step * 91) % 256)};
    FS_RETURN_IF_ERROR(s->Append(next, false, &logits));
    out.steps.push_back(logits);
  }
  out.stats = s->store().stats();
  return out;
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void ExpectStreamedEqualsResident(const std::string& path) {
  Result<ModelIndex> index = ReadModel(path);
  ASSERT_TRUE(index.ok()) << index.status().message();
  const LayerLayout layout = MeasureLayout(*index);
  uint64_t weights = layout.global_bytes, largest = 0;
  for (uint64_t b : layout.layer_bytes) {
    weights += b;
    largest = std::max(largest, b);
  }
  // The minimum working set (globals + two staging slots of the largest layer, with slack for
  // alignment), and half-way between it and the whole model.
  const uint64_t minimum = layout.global_bytes + 2 * largest + (64 << 10);
  Result<MoeRun> resident = RunModel(path, 0);
  ASSERT_TRUE(resident.ok()) << resident.status().message();
  for (uint64_t budget : {minimum, (minimum + weights) / 2}) {
    SCOPED_TRACE(fmt::format("{}: budget {} of {} weight bytes", path, budget, weights));
    Result<MoeRun> streamed = RunModel(path, static_cast<double>(budget) / kGiB);
    ASSERT_TRUE(streamed.ok()) << streamed.status().message();
    EXPECT_GT(streamed->stats.bytes_read, 0u);
    EXPECT_TRUE(BitwiseEqual(resident->prefill, streamed->prefill));
    ASSERT_EQ(resident->steps.size(), streamed->steps.size());
    for (size_t i = 0; i < resident->steps.size(); ++i) {
      EXPECT_TRUE(BitwiseEqual(resident->steps[i], streamed->steps[i])) << "decode step " << i;
    }
  }
}

// Synthetic 6-layer models of each MoE architecture (Q8_0 experts, stacked in the GGUF).
class MoeStreamedEqualsResident : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeStreamedEqualsResident, AtSeveralBudgets) {
  const std::string vocab = testing::WriteByteVocab();
  SynthOptions o;
  o.arch = GetParam();
  o.shape = {6, 128, 4, 2, 256, 512, 0, 8, 2, 64, o.arch == "qwen2moe" ? 128 : 0};
  o.dtype = DType::kQ8_0;
  o.seed = 3;
  o.vocab_path = vocab;
  o.output_path = testing::TempPath("synth_moe_" + o.arch + ".gguf");
  o.sync = false;
  ASSERT_TRUE(SynthesizeGguf(o).ok());
  ExpectStreamedEqualsResident(o.output_path);
  std::remove(o.output_path.c_str());
  std::remove(vocab.c_str());
}

INSTANTIATE_TEST_SUITE_P(Archs, MoeStreamedEqualsResident, ::testing::Values("llama", "qwen3moe", "qwen2moe"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flashstream
