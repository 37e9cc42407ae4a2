// The PCRE2 pre-tokenizers against Hugging Face's (tests/data/tokenizer/pretokenizer.json):
// same pieces, as byte lengths, for every corpus string.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_models.h"

namespace flashstream {
namespace {

TEST(PreTokenizer, PiecesMatchHuggingFace) {
  const nlohmann::json ref =
      testing::ReadJson(testing::SourceDir() + "/tests/data/tokenizer/pretokenizer.json");
  const auto texts = ref.at("texts").get<std::vector<std::string>>();
  ASSERT_GE(texts.size(), 300u);
  for (const auto& [name, splits] : ref.at("splits").items()) {
    auto pre = PreTokenizer::Create(name);
    ASSERT_TRUE(pre.ok()) << pre.status().message();
    ASSERT_EQ(splits.size(), texts.size());
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<std::string_view> pieces;
      pre->Split(texts[i], &pieces);
      std::vector<size_t> lengths;
      for (std::string_view p : pieces) lengths.push_back(p.size());
      const auto expected = splits[i].get<std::vector<size_t>>();
      mismatches += lengths != expected;
      EXPECT_EQ(lengths, expected) << name << " on text #" << i;
    }
    EXPECT_EQ(mismatches, 0) << name;
  }
}

TEST(PreTokenizer, AliasesAndUnknownNames) {
  auto llama_bpe = PreTokenizer::Create("llama-bpe");
  auto llama3 = PreTokenizer::Create("llama3");
  ASSERT_TRUE(llama_bpe.ok() && llama3.ok());
  const std::string text = "Hello  world's 1234567\n\n x";
  std::vector<std::string_view> a, b;
  llama_bpe->Split(text, &a);
  llama3->Split(text, &b);
  EXPECT_EQ(a, b);
  auto bad = PreTokenizer::Create("klingon");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "tokenizer.ggml.pre 'klingon' is not supported (known: " +
                                        PreTokenizer::KnownNames() + ")");
}

}  // namespace
}  // namespace flashstream
