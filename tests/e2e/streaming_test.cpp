// Streamed == resident, bitwise: the same model run fully resident and streamed under budgets of
// about 12% (near the minimum working set), 50% and 100% of its weights gives identical logits
// for prefill and for every decode step, for every dtype and architecture. Plus the failure
// paths of streaming.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "engine/session.h"
#include "formats/model_reader.h"
#include "store/streaming_store.h"
#include "synth_models.h"
#include "test_env.h"

namespace flashstream {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct Logits {
  std::vector<float> prefill;              // [n_prompt, vocab]
  std::vector<std::vector<float>> steps;   // decode steps, [vocab] each
  StoreStats stats;
};

Result<Logits> RunModel(const std::string& path, double ram_gib) {
  EngineOptions o;
  o.model_path = path;
  o.threads = 2;
  o.ctx = 256;
  o.ram_gib = ram_gib;
  o.prefetch_slots = 3;
  FS_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::Open(o, nullptr));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(3 + (i * 37) % 256);
  Logits out;
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

uint64_t WeightBytes(const std::string& path) {
  Result<ModelIndex> index = ReadModel(path);
  EXPECT_TRUE(index.ok());
  const LayerLayout layout = MeasureLayout(*index);
  uint64_t total = layout.global_bytes;
  for (uint64_t b : layout.layer_bytes) total += b;
  return total;
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void ExpectStreamedEqualsResident(const std::string& model) {
  const uint64_t weights = WeightBytes(model);
  Result<Logits> resident = RunModel(model, 0);
  ASSERT_TRUE(resident.ok()) << resident.status().message();
  EXPECT_EQ(resident->stats.bytes_read, 0u);
  for (double fraction : {0.12, 0.5, 1.0}) {
    SCOPED_TRACE(fmt::format("budget {:.0f}% of {} weight bytes", fraction * 100, weights));
    Result<Logits> streamed = RunModel(model, fraction * static_cast<double>(weights) / kGiB);
    ASSERT_TRUE(streamed.ok()) << streamed.status().message();
    if (fraction < 1.0) {
      EXPECT_GT(streamed->stats.bytes_read, 0u);
      EXPECT_LE(streamed->stats.resident_bytes + streamed->stats.staging_bytes,
                static_cast<uint64_t>(fraction * static_cast<double>(weights)) + 4096);
    }
    EXPECT_TRUE(BitwiseEqual(resident->prefill, streamed->prefill));
    ASSERT_EQ(resident->steps.size(), streamed->steps.size());
    for (size_t i = 0; i < resident->steps.size(); ++i) {
      EXPECT_TRUE(BitwiseEqual(resident->steps[i], streamed->steps[i])) << "decode step " << i;
    }
  }
}

class StreamedEqualsResident : public ::testing::TestWithParam<DType> {};

TEST_P(StreamedEqualsResident, AtSeveralBudgets) {
  const std::string vocab = testing::WriteByteVocab();
  const std::string model = testing::WriteSynthModel(GetParam(), 24, vocab);
  ExpectStreamedEqualsResident(model);
  std::system(fmt::format("rm -rf {}", model).c_str());
  std::remove(vocab.c_str());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, StreamedEqualsResident,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_1, DType::kMlxQ4, DType::kMlxQ8),
                         [](const auto& info) { return std::string(Name(info.param)); });

// The other architectures' extra tensors (biases, QK-norms, post-norms) stream like the rest.
class ArchStreamedEqualsResident : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchStreamedEqualsResident, AtSeveralBudgets) {
  const std::string vocab = testing::WriteByteVocab();
  const std::string model = testing::WriteSynthModel(DType::kQ8_0, 24, vocab, 2, GetParam());
  ExpectStreamedEqualsResident(model);
  std::remove(model.c_str());
  std::remove(vocab.c_str());
}

INSTANTIATE_TEST_SUITE_P(Archs, ArchStreamedEqualsResident, ::testing::Values("mistral", "qwen2", "qwen3", "gemma3"),
                         [](const auto& info) { return info.param; });

// Hugging Face safetensors folders: tensors at the unaligned offsets safetensors gives them,
// read straight from the original file.
class HfFolderStreamedEqualsResident : public ::testing::TestWithParam<DType> {};

TEST_P(HfFolderStreamedEqualsResident, AtSeveralBudgets) {
  const std::string vocab = testing::WriteByteVocab();
  const std::string model = testing::WriteSynthModel(GetParam(), 24, vocab, 3, "llama", /*hf_folder=*/true);
  ExpectStreamedEqualsResident(model);
  std::system(fmt::format("rm -rf {}", model).c_str());
  std::remove(vocab.c_str());
}

INSTANTIATE_TEST_SUITE_P(HfFolders, HfFolderStreamedEqualsResident,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(Name(info.param)); });

TEST(Streaming, BudgetBelowMinimumWorkingSetFailsWithTheMinimum) {
  const std::string vocab = testing::WriteByteVocab();
  const std::string model = testing::WriteSynthModel(DType::kQ8_0, 8, vocab);
  Result<Logits> r = RunModel(model, 1000.0 / kGiB);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("minimum working set"), std::string::npos) << r.status().message();
  std::remove(model.c_str());
  std::remove(vocab.c_str());
}

TEST(Streaming, FileChangedUnderTheProcessIsAnError) {
  const std::string vocab = testing::WriteByteVocab();
  const std::string model = testing::WriteSynthModel(DType::kQ8_0, 8, vocab);
  EngineOptions o;
  o.model_path = model;
  o.threads = 2;
  o.ram_gib = 0.3 * static_cast<double>(WeightBytes(model)) / kGiB;
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(0, truncate(model.c_str(), 100000));
  std::vector<float> logits;
  const std::vector<int32_t> prompt = {5, 6, 7};
  Status status = (*s)->Evaluate(prompt, &logits);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(model), std::string::npos) << status.message();
  // The session stays usable for an error report, and a retry fails the same way (never garbage).
  EXPECT_FALSE((*s)->Evaluate(prompt, &logits).ok());
  std::remove(model.c_str());
  std::remove(vocab.c_str());
}

}  // namespace
}  // namespace flashstream
