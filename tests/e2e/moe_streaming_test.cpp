// Mixture-of-experts models stream bitwise: synthetic Mixtral (llama with experts), Qwen3-MoE
// and Qwen2-MoE GGUFs (stacked experts) give identical logits fully resident and with their
// routed experts in an expert cache under --ram (from one slot to half the experts; each
// replacement policy, lookahead routing on and off, the next token's layer-0 prefetch on and
// off), for a prefill and for every decode step; the cache's counters say it read and reused
// experts and, with lookahead, scored predictions (of the next layer and of the next token).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <tuple>

#include "engine/session.h"
#include "formats/expert_layout.h"
#include "formats/model_reader.h"
#include "formats/synth.h"
#include "store/expert_cache.h"
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
  bool expert_cache = false;
  ExpertCacheStats experts;
};

Result<MoeRun> RunModel(const std::string& path, double ram_gib, const std::string& policy = "", bool lookahead = true,
                        bool next_token = false) {
  EngineOptions o;
  o.model_path = path;
  o.threads = 2;
  o.ctx = 128;
  o.ram_gib = ram_gib;
  o.expert_policy = policy;
  o.expert_lookahead = lookahead;
  o.expert_next_token = next_token;
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
  if (const ExpertCache* cache = s->expert_cache()) {
    out.expert_cache = true;
    out.experts = cache->stats();
  }
  return out;
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Budgets: one expert slot more than the non-expert weights (every expert read again each time
// it is used), and room for a quarter and for half of the experts.
void ExpectStreamedEqualsResident(const std::string& path) {
  Result<ModelIndex> index = ReadModel(path);
  ASSERT_TRUE(index.ok()) << index.status().message();
  const ExpertLayout x = MeasureExperts(*index);
  const uint64_t slot = ExpertCache::SlotBytes(*index);
  const uint64_t fixed = x.shared_bytes + index->Find("token_embd.weight")->bytes + (64 << 10);
  const uint64_t n_experts = static_cast<uint64_t>(index->config.n_layers) * index->config.n_expert;
  const LayerLayout layout = MeasureLayout(*index);  // what Session::Open compares --ram with
  uint64_t weights = layout.global_bytes;
  for (uint64_t b : layout.layer_bytes) weights += b;
  Result<MoeRun> resident = RunModel(path, 0);
  ASSERT_TRUE(resident.ok()) << resident.status().message();
  EXPECT_FALSE(resident->expert_cache);
  struct Case {
    uint64_t slots;
    std::string policy;  // "" = the default
    bool lookahead;
    bool next_token = false;
  };
  const Case cases[] = {{1, "", true, true},
                        {n_experts / 4, "", true},
                        {n_experts / 4, "", true, true},
                        {n_experts / 2, "", true, true},
                        {n_experts / 4, "lru", false, true},
                        {n_experts / 4, "decay", true}};
  for (const Case& c : cases) {
    const uint64_t budget = fixed + c.slots * slot;
    // A tiny MLX model's slots (9 aligned extents) can exceed its weights: then it loads resident.
    if (budget >= weights) continue;
    SCOPED_TRACE(fmt::format("{}: budget {} bytes, about {} expert slots, policy '{}', lookahead {}, next token {}",
                             path, budget, c.slots, c.policy, c.lookahead, c.next_token));
    Result<MoeRun> streamed = RunModel(path, static_cast<double>(budget) / kGiB, c.policy, c.lookahead, c.next_token);
    ASSERT_TRUE(streamed.ok()) << streamed.status().message();
    ASSERT_TRUE(streamed->expert_cache);
    const ExpertCacheStats& x = streamed->experts;
    EXPECT_GE(x.slots, static_cast<int>(c.slots));
    EXPECT_GT(x.misses, 0u);
    EXPECT_GT(x.bytes_read, 0u);
    EXPECT_EQ(streamed->stats.bytes_read, 0u);  // everything else is resident
    if (c.slots == 1) {
      EXPECT_EQ(x.hits + x.prefetch_hits, 0u);  // ... and then only the current expert fits
    } else {
      EXPECT_GT(x.hits + x.prefetch_hits, 0u);
    }
    if (c.lookahead) {
      EXPECT_GT(x.predicted, 0u);
      EXPECT_GT(x.routed, 0u);
      EXPECT_LE(x.predicted_used, std::min(x.predicted, x.routed));
    } else {
      EXPECT_EQ(x.predicted, 0u);
      EXPECT_EQ(x.prefetch_hits, 0u);
    }
    // The next token's layer 0 is predicted after each pass (6 decode steps follow the prefill)
    // where the last layer's routed experts all found slots at once.
    if (c.lookahead && c.next_token && c.slots > 1) {
      EXPECT_GT(x.next_predicted, 0u);
      EXPECT_GT(x.next_routed, 0u);
      EXPECT_LE(x.next_predicted_used, std::min(x.next_predicted, x.next_routed));
    } else if (!c.lookahead || !c.next_token) {
      EXPECT_EQ(x.next_predicted, 0u);
    }
    EXPECT_TRUE(BitwiseEqual(resident->prefill, streamed->prefill));
    ASSERT_EQ(resident->steps.size(), streamed->steps.size());
    for (size_t i = 0; i < resident->steps.size(); ++i) {
      EXPECT_TRUE(BitwiseEqual(resident->steps[i], streamed->steps[i])) << "decode step " << i;
    }
  }
}

TEST(MoeExpertCache, UnknownPolicyIsAnError) {
  const std::string path = testing::SourcePath("tests/data/moe/qwen3moe/model.gguf");
  Result<MoeRun> run = RunModel(path, 1e-4, "fifo");
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("'fifo'"), std::string::npos) << run.status().message();
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

// The committed transformers-made models: HF folders (experts at safetensors' unaligned
// offsets, Mixtral's three matrices of an expert adjacent) as well as GGUF.
class MoeReferenceModelStreams : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(MoeReferenceModelStreams, ExpertCacheEqualsResident) {
  const auto& [name, file] = GetParam();
  const std::string dir = testing::SourcePath("tests/data/moe/" + name);
  ExpectStreamedEqualsResident(file.empty() ? dir : dir + "/" + file);
}

// MLX q8 folders written by `convert` from the same models: quantized experts whose scales and
// biases the cache reads with them (Qwen2-MoE's f16 q/k/v biases are not read from MLX folders).
class MoeMlxFolderStreams : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeMlxFolderStreams, ExpertCacheEqualsResident) {
  const std::string mlx = testing::TempPath("moe_stream_mlx_" + GetParam());
  const std::string cmd = fmt::format("{} convert {} --to mlx-q8 -o {} 2>/dev/null", FS_CLI_PATH,
                                      testing::SourcePath("tests/data/moe/" + GetParam() + "/model.gguf"), mlx);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ExpectStreamedEqualsResident(mlx);
  std::system(fmt::format("rm -rf {}", mlx).c_str());
}

INSTANTIATE_TEST_SUITE_P(Models, MoeMlxFolderStreams, ::testing::Values("mixtral", "qwen3moe"),
                         [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Models, MoeReferenceModelStreams,
                         ::testing::Combine(::testing::Values("mixtral", "qwen3moe", "qwen2moe"),
                                            ::testing::Values("model.gguf", "")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param).empty() ? "_hf" : "_gguf");
                         });

}  // namespace
}  // namespace flashstream
