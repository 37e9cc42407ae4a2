// Tokenizer behaviour on small hand-made vocabularies (no model files needed), the special
// token rules, errors, invalid UTF-8 and the end-of-generation set of the real SmolLM2 vocab.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_models.h"
#include "tokenizer/bpe.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

using Ids = std::vector<int32_t>;

std::string ByteChar(uint8_t b) {
  std::string s;
  AppendUtf8(ByteToUnicode(b), &s);
  return s;
}

// A byte-level BPE vocabulary: ids 0..255 are the bytes, then `extra` tokens in order.
TokenizerSpec TinyBpe(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                      const std::string& pre = "gpt2") {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kBpe;
  spec.pre = pre;
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(ByteChar(static_cast<uint8_t>(b)));
  spec.tokens.insert(spec.tokens.end(), extra.begin(), extra.end());
  spec.types.assign(spec.tokens.size(), TokenizerSpec::kNormal);
  spec.merges = merges;
  return spec;
}

int32_t IdOf(const TokenizerSpec& spec, const std::string& text) {
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.tokens[i] == text) return static_cast<int32_t>(i);
  }
  ADD_FAILURE() << "no token " << text;
  return -1;
}

std::unique_ptr<Tokenizer> Make(const TokenizerSpec& spec) {
  auto tok = Tokenizer::Create(spec);
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

TEST(ByteLevel, MapMatchesGpt2Alphabet) {
  EXPECT_EQ(ByteToUnicode('a'), static_cast<uint32_t>('a'));
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(ByteToUnicode(0), 0x100u);
  EXPECT_EQ(ByteToUnicode(0x7F), 0x121u);
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);
  EXPECT_EQ(ByteToUnicode(0xFF), 0xFFu);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(UnicodeToByte(ByteToUnicode(static_cast<uint8_t>(b))), b);
  std::string bytes;
  EXPECT_TRUE(ByteLevelDecode("\xC4\xA0hi", &bytes));  // "Ġhi"
  EXPECT_EQ(bytes, " hi");
  EXPECT_FALSE(ByteLevelDecode("\xE2\x96\x81", &bytes));  // "▁" is not in the alphabet
}

TEST(Bpe, MergesFollowRankOrder) {
  // "abc": with "b c" ranked first the pair (a, bc) has no merge; with "a b" first, ab+c merge.
  const TokenizerSpec bc_first = TinyBpe({"bc", "ab", "abc"}, {"b c", "a b", "ab c"});
  EXPECT_EQ(Make(bc_first)->Encode("abc", false, false), (Ids{'a', IdOf(bc_first, "bc")}));
  const TokenizerSpec ab_first = TinyBpe({"bc", "ab", "abc"}, {"a b", "b c", "ab c"});
  EXPECT_EQ(Make(ab_first)->Encode("abc", false, false), (Ids{IdOf(ab_first, "abc")}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  const TokenizerSpec spec = TinyBpe({"aa"}, {"a a"});
  EXPECT_EQ(Make(spec)->Encode("aaa", false, false), (Ids{IdOf(spec, "aa"), 'a'}));
  EXPECT_EQ(Make(spec)->Encode("aaaa", false, false), (Ids{IdOf(spec, "aa"), IdOf(spec, "aa")}));
}

TEST(Bpe, MergesStayInsidePreTokenizerPieces) {
  const std::string sp = ByteChar(' ');
  // Over the whole text "b Ġ" would merge first; the pieces "ab" and " ab" never see it.
  const TokenizerSpec spec =
      TinyBpe({"ab", sp + "a", sp + "ab", "b" + sp}, {"b " + sp, sp + " a", sp + "a b", "a b"});
  EXPECT_EQ(Make(spec)->Encode("ab ab", false, false),
            (Ids{IdOf(spec, "ab"), IdOf(spec, sp + "ab")}));
}

TEST(Bpe, SmolLmSplitsEveryDigit) {
  const std::vector<std::string> extra = {"12", "a1"};
  const std::vector<std::string> merges = {"1 2", "a 1"};
  const TokenizerSpec gpt2 = TinyBpe(extra, merges, "gpt2");
  const TokenizerSpec smollm = TinyBpe(extra, merges, "smollm");
  EXPECT_EQ(Make(gpt2)->Encode("12", false, false), (Ids{IdOf(gpt2, "12")}));
  EXPECT_EQ(Make(smollm)->Encode("12", false, false), (Ids{'1', '2'}));
  // Letters and digits are separate pieces under both patterns.
  EXPECT_EQ(Make(gpt2)->Encode("a1", false, false), (Ids{'a', '1'}));
}

TEST(Bpe, EveryKnownPreTokenizerKeepsAllBytes) {
  for (const char* pre : {"gpt2", "default", "", "smollm", "llama-bpe", "llama3", "qwen2"}) {
    auto tok = Make(TinyBpe({}, {}, pre));
    const std::string text = "Hello  world's 12345\n\n\tx \xF0\x9F\x98\x80 \xFF\xC3 end  ";
    std::string pieces;
    for (int32_t id : tok->Encode(text, false, false)) pieces += tok->TokenText(id);
    EXPECT_EQ(pieces, text) << "pre " << pre;
  }
}

TEST(SpecialTokens, LeftmostLongestMatch) {
  SpecialTokenMatcher m;
  m.Add("<|a|>", 1);
  m.Add("<|a|>b", 2);
  m.Add("|a", 3);
  std::vector<SpecialTokenMatcher::Fragment> f;
  m.Partition("x<|a|>b<|a|<|a|>", &f);
  // "x" | "<|a|>b" (longest at its start) | "<" | "|a" (leftmost, before the next "<|a|>")
  // | "|" | "<|a|>"
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0].text, "x");
  EXPECT_EQ(f[0].id, -1);
  EXPECT_EQ(f[1].id, 2);
  EXPECT_EQ(f[2].text, "<");
  EXPECT_EQ(f[2].id, -1);
  EXPECT_EQ(f[3].id, 3);
  EXPECT_EQ(f[4].text, "|");
  EXPECT_EQ(f[5].id, 1);
}

TEST(SpecialTokens, ControlOnlyWhenParsedUserDefinedAlways) {
  TokenizerSpec spec = TinyBpe({"<|ctl|>", "<u>"}, {});
  const int32_t ctl = IdOf(spec, "<|ctl|>"), user = IdOf(spec, "<u>");
  spec.types[static_cast<size_t>(ctl)] = TokenizerSpec::kControl;
  spec.types[static_cast<size_t>(user)] = TokenizerSpec::kUserDefined;
  auto tok = Make(spec);
  EXPECT_EQ(tok->Encode("<|ctl|><u>", false, true), (Ids{ctl, user}));
  const Ids plain = tok->Encode("<|ctl|><u>", false, false);
  EXPECT_EQ(plain.back(), user);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), ctl), 0);
  EXPECT_EQ(tok->Decode(plain), "<|ctl|><u>");
  EXPECT_TRUE(tok->IsSpecial(ctl));
  EXPECT_FALSE(tok->IsSpecial('a'));
}

// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then (piece, score).
TokenizerSpec TinySpm(const std::vector<std::pair<std::string, float>>& pieces,
                      bool byte_tokens = true) {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kSpm;
  spec.add_space_prefix = true;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.types = {TokenizerSpec::kUnknown, TokenizerSpec::kControl, TokenizerSpec::kControl};
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  if (byte_tokens) {
    for (int b = 0; b < 256; ++b) {
      spec.tokens.push_back(fmt::format("<0x{:02X}>", b));
      spec.types.push_back(TokenizerSpec::kByte);
    }
  }
  spec.scores.assign(spec.tokens.size(), 0.f);
  for (const auto& [text, score] : pieces) {
    spec.tokens.push_back(text);
    spec.types.push_back(TokenizerSpec::kNormal);
    spec.scores.push_back(score);
  }
  return spec;
}

TEST(Spm, MergesHighestScoreFirst) {
  const std::vector<std::pair<std::string, float>> base = {{"a", -10}, {"b", -10}, {"c", -10}};
  auto with = [&](float ab, float bc) {
    auto p = base;
    p.push_back({"ab", ab});
    p.push_back({"bc", bc});
    TokenizerSpec spec = TinySpm(p);
    spec.add_space_prefix = false;
    return spec;
  };
  const TokenizerSpec bc_wins = with(-5, -3), ab_wins = with(-3, -5);
  EXPECT_EQ(Make(bc_wins)->Encode("abc", false, false),
            (Ids{IdOf(bc_wins, "a"), IdOf(bc_wins, "bc")}));
  EXPECT_EQ(Make(ab_wins)->Encode("abc", false, false),
            (Ids{IdOf(ab_wins, "ab"), IdOf(ab_wins, "c")}));
}

TEST(Spm, SpacePrefixAndByteFallback) {
  const TokenizerSpec spec = TinySpm({{"\xE2\x96\x81", -1},
                                      {"a", -2},
                                      {"\xE2\x96\x81"
                                       "a",
                                       -1.5f}});
  auto tok = Make(spec);
  const int32_t sp = IdOf(spec, "\xE2\x96\x81"), sp_a = IdOf(spec,
                                                             "\xE2\x96\x81"
                                                             "a");
  // "é" is not a piece: its two bytes fall back to <0xC3> <0xA9> (ids 3 + byte).
  EXPECT_EQ(tok->Encode("a\xC3\xA9", true, true), (Ids{1, sp_a, 3 + 0xC3, 3 + 0xA9}));
  // A space is put in front of the text and of the text after a special token.
  EXPECT_EQ(tok->Encode(" a<s>a", false, true), (Ids{sp, sp_a, 1, sp_a}));
  EXPECT_EQ(tok->Decode(tok->Encode(" a<s>a", false, true)), " a<s>a");
  EXPECT_EQ(tok->Decode(tok->Encode("a\xC3\xA9", true, true)), "<s>a\xC3\xA9");
}

TEST(Spm, UnknownTokenWithoutByteTokens) {
  const TokenizerSpec spec = TinySpm({{"\xE2\x96\x81", -1}, {"a", -2}}, /*byte_tokens=*/false);
  auto tok = Make(spec);
  EXPECT_EQ(tok->Encode("a\xC3\xA9", false, false),
            (Ids{IdOf(spec, "\xE2\x96\x81"), IdOf(spec, "a"), 0, 0}));
}

TEST(Decode, SkipsIdsOutOfRangeAndSanitizes) {
  auto tok = Make(TinyBpe({}, {}));
  const Ids ids = {-1, 'h', 1 << 30, 'i', 0xC3};
  EXPECT_EQ(tok->Decode(ids), "hi\xEF\xBF\xBD");
  EXPECT_EQ(tok->TokenText(-5), "");
}

TEST(Detokenizer, HoldsPartialCharacters) {
  auto tok = Make(TinyBpe({}, {}));
  Detokenizer d(*tok);
  EXPECT_EQ(d.Feed(0xF0), "");
  EXPECT_EQ(d.Feed(0x9F), "");
  EXPECT_EQ(d.Feed(0x98), "");
  EXPECT_EQ(d.Feed(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(d.Feed(0xC3), "");
  EXPECT_EQ(d.Finish(), "\xEF\xBF\xBD");
}

TEST(Detokenizer, RandomIdsStreamValidUtf8EqualToDecode) {
  for (const TokenizerSpec& spec :
       {TinyBpe({"ab"}, {"a b"}), TinySpm({{"\xE2\x96\x81", -1}, {"a", -2}})}) {
    auto tok = Make(spec);
    std::mt19937 rng(11);
    for (int trial = 0; trial < 300; ++trial) {
      Ids ids(rng() % 20);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % (tok->vocab_size() + 3)) - 1;
      Detokenizer d(*tok);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string chunk = d.Feed(id);
        ASSERT_TRUE(IsValidUtf8(chunk));
        streamed += chunk;
      }
      streamed += d.Finish();
      EXPECT_EQ(streamed, tok->Decode(ids));
    }
  }
}

TEST(Create, RejectsMalformedSpecs) {
  auto message = [](const TokenizerSpec& spec) {
    auto r = Tokenizer::Create(spec);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  TokenizerSpec none;
  EXPECT_NE(message(none).find("tokenizer.ggml.model"), std::string::npos);
  TokenizerSpec spec = TinyBpe({}, {});
  spec.types.pop_back();
  EXPECT_EQ(message(spec),
            "tokenizer.ggml.token_type has 255 entries, expected 256 (one per token)");
  spec = TinyBpe({}, {}, "klingon");
  EXPECT_NE(message(spec).find("tokenizer.ggml.pre 'klingon' is not supported"), std::string::npos);
  spec = TinyBpe({}, {"ab"});
  EXPECT_EQ(message(spec), "tokenizer.ggml.merges[0] = 'ab': expected 'left right'");
  spec = TinyBpe({}, {});
  spec.bos_id = 256;
  EXPECT_EQ(message(spec),
            "tokenizer.ggml.bos_token_id = 256 is outside the vocabulary of 256 tokens");
  spec = TinyBpe({}, {});
  spec.types[3] = 9;
  EXPECT_EQ(message(spec), "tokenizer.ggml.token_type[3] = 9, expected 0..6");
  spec = TinySpm({});
  spec.scores.pop_back();
  EXPECT_NE(message(spec).find("tokenizer.ggml.scores has"), std::string::npos);
}

// Arbitrary bytes: the pieces reproduce them exactly (SPM: after the space prefix), except
// that BPE drops bytes without a byte-level token (as Hugging Face does).
TEST(InvalidUtf8, PiecesKeepEveryRepresentableByte) {
  std::string skip, error;
  for (const char* name : {"smollm2", "llama2_spm"}) {
    auto tok = testing::LoadModelTokenizer(name, &skip, &error);
    if (tok == nullptr) {
      ASSERT_TRUE(error.empty()) << error;
      continue;
    }
    std::array<bool, 256> representable{};
    for (int b = 0; b < 256; ++b) {
      const std::string one(1, static_cast<char>(b));
      const Ids ids = tok->Encode(one, false, false);
      std::string pieces;
      for (int32_t id : ids) pieces += tok->TokenText(id);
      representable[static_cast<size_t>(b)] =
          pieces == (tok->strips_space_prefix() ? " " : "") + one;
      if (tok->kind() == TokenizerSpec::Kind::kSpm) {
        EXPECT_TRUE(representable[static_cast<size_t>(b)]) << "byte fallback misses byte " << b;
      }
      if (!representable[static_cast<size_t>(b)]) {
        EXPECT_TRUE(ids.empty()) << name << " byte " << b;
      }
    }
    std::mt19937 rng(5);
    for (int trial = 0; trial < 200; ++trial) {
      std::string bytes(rng() % 64, '\0');
      for (char& c : bytes) c = static_cast<char>(rng() % 3 == 0 ? rng() % 256 : 'a' + rng() % 26);
      std::string pieces;
      for (int32_t id : tok->Encode(bytes, false, false)) pieces += tok->TokenText(id);
      std::string kept;
      for (char c : bytes) {
        if (representable[static_cast<uint8_t>(c)]) kept.push_back(c);
      }
      const std::string expected = (tok->strips_space_prefix() && !bytes.empty() ? " " : "") + kept;
      EXPECT_EQ(pieces, expected) << name;
      Utf8Sanitizer s;
      std::string sanitized;
      s.Feed(kept, &sanitized);
      s.Finish(&sanitized);
      EXPECT_EQ(tok->Decode(tok->Encode(bytes, false, false)), sanitized) << name;
    }
  }
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST(SmolLm2, ChatMlSpecialsAndEndOfGeneration) {
  std::string skip, error;
  auto tok = testing::LoadModelTokenizer("smollm2", &skip, &error);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(tok, nullptr) << error;
  const Ids start = tok->Encode("<|im_start|>", false, true);
  const Ids end = tok->Encode("<|im_end|>", false, true);
  const Ids eot = tok->Encode("<|endoftext|>", false, true);
  ASSERT_EQ(start.size(), 1u);
  ASSERT_EQ(end.size(), 1u);
  ASSERT_EQ(eot.size(), 1u);
  EXPECT_TRUE(tok->IsEndOfGeneration(end[0]));
  EXPECT_TRUE(tok->IsEndOfGeneration(eot[0]));
  EXPECT_TRUE(tok->IsEndOfGeneration(tok->eos()));
  EXPECT_FALSE(tok->IsEndOfGeneration(start[0]));
  for (int32_t id : tok->Encode("hello world", false, true))
    EXPECT_FALSE(tok->IsEndOfGeneration(id));
  const Ids parsed = tok->Encode("<|im_start|>user\nHi<|im_end|>", false, true);
  EXPECT_EQ(parsed.front(), start[0]);
  EXPECT_EQ(parsed.back(), end[0]);
  const Ids plain = tok->Encode("<|im_start|>user\nHi<|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), start[0]), 0);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), end[0]), 0);
}

TEST(Concurrency, ConstEncodeFromManyThreads) {
  std::string skip, error;
  auto tok = testing::LoadModelTokenizer("smollm2", &skip, &error);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(tok, nullptr) << error;
  const std::string text = "Concurrent tokenization 12345 <|im_start|> héllo 😀 ";
  const Ids expected = tok->Encode(text, true, true);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        ok[static_cast<size_t>(t)] += tok->Encode(text, true, true) == expected;
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 200);
}

}  // namespace
}  // namespace flashstream
