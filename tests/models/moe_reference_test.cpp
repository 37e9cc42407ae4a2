// Mixture-of-experts architectures against Hugging Face transformers: tiny random-weight
// Mixtral (8 experts, top-2, renormalized), Qwen3-MoE (8 experts, top-3, norm_topk_prob,
// QK-norm) and Qwen2-MoE (top-2 without renormalization, shared expert with a sigmoid gate)
// made by scripts/ref_moe.py, each read from its GGUF file (stacked experts) and from its
// safetensors folder (one tensor per expert), evaluated on 72 random ids all at once, in
// chunks of 7 (tokens grouped by expert per chunk) and token by token.
//
// Bounds as tests/models/arch_reference.h (f32 on both sides; only rounding order differs).
// They hold only if both sides pick the same experts: ref.json's min_router_gap (the closest
// k-th vs (k+1)-th router probability, >= 1e-4 for these seeds) is three orders of magnitude
// above f32 rounding of the probabilities, and the test checks that it is.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "models/arch_reference.h"

namespace flashstream {
namespace {

using testing::ExpectClose;
using testing::LoadReference;
using testing::Reference;

using Param = std::tuple<std::string, std::string>;  // model, file within its folder ("" = the folder)

std::string Dir(const std::string& name) { return "tests/data/moe/" + name; }

class MoeReference : public ::testing::TestWithParam<Param> {
 protected:
  std::string name() const { return std::get<0>(GetParam()); }
  std::unique_ptr<Session> Open() const {
    const std::string& file = std::get<1>(GetParam());
    return testing::OpenModel(file.empty() ? Dir(name()) : Dir(name()) + "/" + file);
  }
};

TEST_P(MoeReference, RouterDecisionsAreFarFromTies) {
  const nlohmann::json j = nlohmann::json::parse(testing::ReadBytes(testing::SourcePath(Dir(name()) + "/ref.json")));
  EXPECT_GT(j["min_router_gap"].get<double>(), 1e-4);
}

TEST_P(MoeReference, AllPositionsAtOnceMatchTransformers) {
  const Reference ref = LoadReference(Dir(name()));
  std::unique_ptr<Session> s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_GT(s->index().config.n_expert, 0);
  std::vector<float> logits;
  ASSERT_TRUE(s->Evaluate(ref.ids, &logits).ok());
  ASSERT_EQ(logits.size(), ref.logits.size());
  ExpectClose(name(), ref, logits.data(), 0, ref.ids.size());
}

// Chunks of 7 tokens: every expert sees a different subset of rows than in one pass.
TEST_P(MoeReference, ChunkedPrefillMatchesTransformers) {
  const Reference ref = LoadReference(Dir(name()));
  std::unique_ptr<Session> s = Open();
  ASSERT_NE(s, nullptr);
  s->model().set_max_chunk(7);
  std::vector<float> logits;
  ASSERT_TRUE(s->Evaluate(ref.ids, &logits).ok());
  ASSERT_EQ(logits.size(), ref.logits.size());
  ExpectClose(name(), ref, logits.data(), 0, ref.ids.size());
}

TEST_P(MoeReference, TokenByTokenDecodeMatchesTransformers) {
  const Reference ref = LoadReference(Dir(name()));
  std::unique_ptr<Session> s = Open();
  ASSERT_NE(s, nullptr);
  const size_t prefill = 40;
  std::vector<float> logits;
  ASSERT_TRUE(s->Append(std::span(ref.ids).first(prefill), true, &logits).ok());
  ExpectClose(name(), ref, logits.data(), 0, prefill);
  std::vector<float> all;
  for (size_t p = prefill; p < ref.ids.size(); ++p) {
    ASSERT_TRUE(s->Append(std::span(ref.ids).subspan(p, 1), false, &logits).ok());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  ExpectClose(name(), ref, all.data(), prefill, ref.ids.size() - prefill);
}

INSTANTIATE_TEST_SUITE_P(Models, MoeReference,
                         ::testing::Combine(::testing::Values("mixtral", "qwen3moe", "qwen2moe"),
                                            ::testing::Values("model.gguf", "")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param).empty() ? "_hf" : "_gguf");
                         });

}  // namespace
}  // namespace flashstream
