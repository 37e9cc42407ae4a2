// The real tokenizers against Hugging Face's ids for the same GGUF files
// (tests/data/tokenizer/*.json), plus round trips and streaming over the same corpus.
#include <fmt/format.h>  // readable id lists in failure messages
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_models.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

using testing::LoadModelTokenizer;
using testing::LoadReference;
using testing::RefData;

class ReferenceTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::string skip, error;
    tok_ = LoadModelTokenizer(GetParam(), &skip, &error);
    if (!skip.empty()) GTEST_SKIP() << skip;
    ASSERT_NE(tok_, nullptr) << error;
    ref_ = LoadReference(GetParam());
    ASSERT_GE(ref_.cases.size(), 300u);
  }

  std::unique_ptr<Tokenizer> tok_;
  RefData ref_;
};

std::string Show(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

TEST_P(ReferenceTest, IdsMatchHuggingFace) {
  int mismatches = 0;
  for (const auto& c : ref_.cases) {
    const std::vector<int32_t> ids =
        tok_->Encode(c.text, /*add_special=*/false, /*parse_special=*/true);
    const std::vector<int32_t> plain = tok_->Encode(c.text, false, false);
    std::vector<int32_t> with_bos;
    if (ref_.add_bos) with_bos.push_back(ref_.bos_id);
    with_bos.insert(with_bos.end(), c.ids.begin(), c.ids.end());
    const bool ok =
        ids == c.ids && plain == c.ids_plain && tok_->Encode(c.text, true, true) == with_bos;
    if (!ok) ++mismatches;
    EXPECT_EQ(ids, c.ids) << "text \"" << Show(c.text) << "\" (parse_special on)";
    EXPECT_EQ(plain, c.ids_plain) << "text \"" << Show(c.text) << "\" (parse_special off)";
    EXPECT_EQ(tok_->Encode(c.text, true, true), with_bos) << "text \"" << Show(c.text) << "\"";
  }
  EXPECT_EQ(mismatches, 0) << "of " << ref_.cases.size() << " corpus strings";
}

TEST_P(ReferenceTest, DecodeInvertsEncode) {
  for (const auto& c : ref_.cases) {
    for (bool parse_special : {true, false}) {
      const std::vector<int32_t> ids = tok_->Encode(c.text, false, parse_special);
      EXPECT_EQ(tok_->Decode(ids), c.text)
          << "text \"" << Show(c.text) << "\" parse_special=" << parse_special;
    }
  }
}

TEST_P(ReferenceTest, StreamingMatchesDecodeAndEmitsOnlyValidUtf8) {
  for (const auto& c : ref_.cases) {
    const std::vector<int32_t> ids = tok_->Encode(c.text, true, true);
    Detokenizer detok(*tok_);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string chunk = detok.Feed(id);
      EXPECT_TRUE(IsValidUtf8(chunk)) << "text \"" << Show(c.text) << "\" id " << id;
      streamed += chunk;
    }
    const std::string tail = detok.Finish();
    EXPECT_TRUE(IsValidUtf8(tail));
    streamed += tail;
    EXPECT_EQ(streamed, tok_->Decode(ids)) << "text \"" << Show(c.text) << "\"";
  }
}

// 100 KB inputs of the corpus and of single long pieces (one letter, spaces, digits, CJK,
// punctuation): these must round-trip; gtest's per-test time shows the encode speed.
TEST_P(ReferenceTest, HundredKilobyteInputsRoundTrip) {
  std::string corpus;
  while (corpus.size() < 100000) {
    for (const auto& c : ref_.cases) corpus += c.text + "\n";
  }
  const std::vector<std::string> inputs = {
      corpus,
      std::string(100000, 'a'),
      std::string(100000, ' '),
      std::string(100000, '7'),
      [] {
        std::string s;
        while (s.size() < 100000) s += "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";  // 日本語
        return s;
      }(),
      [] {
        std::string s;
        while (s.size() < 100000) s += "!?#{}";
        return s;
      }(),
  };
  for (const std::string& text : inputs) {
    const std::vector<int32_t> ids = tok_->Encode(text, false, false);
    EXPECT_EQ(tok_->Decode(ids), text) << "input starting \"" << Show(text.substr(0, 20)) << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ReferenceTest, ::testing::Values("smollm2", "llama2_spm"));

}  // namespace
}  // namespace flashstream
