// Every architecture against Hugging Face transformers: tiny random-weight models
// (tests/data/arch/<name>/model.gguf, made with their reference logits by scripts/ref_arch.py)
// evaluated on a 72-token random id sequence, all at once and then token by token through the
// KV cache. Weights and activations are f32 on both sides, so the only differences are the
// order of f32 roundings: transformers' own f32-vs-f64 gap (recorded in ref.json, ~2e-6) is
// the scale of the expected error.
#include "models/arch_reference.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flashstream {
namespace {

using testing::ExpectClose;
using testing::LoadReference;
using testing::Reference;

std::string Dir(const std::string& name) { return "tests/data/arch/" + name; }
std::unique_ptr<Session> Open(const std::string& name) { return testing::OpenModel(Dir(name) + "/model.gguf"); }

class ArchReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchReference, AllPositionsAtOnceMatchTransformers) {
  const Reference ref = LoadReference(Dir(GetParam()));
  std::unique_ptr<Session> s = Open(GetParam());
  ASSERT_NE(s, nullptr);
  std::vector<float> logits;
  ASSERT_TRUE(s->Evaluate(ref.ids, &logits).ok());
  ASSERT_EQ(logits.size(), ref.logits.size());
  ExpectClose(GetParam(), ref, logits.data(), 0, ref.ids.size());
}

// A 40-token prefill, then one token at a time: the decode attention path over the cache
// (windowed layers included) must give the same logits.
TEST_P(ArchReference, TokenByTokenDecodeMatchesTransformers) {
  const Reference ref = LoadReference(Dir(GetParam()));
  std::unique_ptr<Session> s = Open(GetParam());
  ASSERT_NE(s, nullptr);
  const size_t prefill = 40;
  std::vector<float> logits;
  ASSERT_TRUE(s->Append(std::span(ref.ids).first(prefill), true, &logits).ok());
  ExpectClose(GetParam(), ref, logits.data(), 0, prefill);
  std::vector<float> all;
  for (size_t p = prefill; p < ref.ids.size(); ++p) {
    ASSERT_TRUE(s->Append(std::span(ref.ids).subspan(p, 1), false, &logits).ok());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  ExpectClose(GetParam(), ref, all.data(), prefill, ref.ids.size() - prefill);
}

INSTANTIATE_TEST_SUITE_P(Archs, ArchReference, ::testing::Values("llama3", "mistral", "qwen2", "qwen3", "gemma3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flashstream
