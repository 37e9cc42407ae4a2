// tokenizer.json / tokenizer_config.json on small hand-made files: what each component does
// to the ids, the one-line errors for bad input, and the writer's round trip.
#include "formats/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>  // building test files
#include <string>
#include <vector>

#include "tokenizer/bpe.h"  // ByteToUnicode
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::string ByteChar(uint8_t b) {
  std::string s;
  AppendUtf8(ByteToUnicode(b), &s);
  return s;
}

// A byte-level BPE tokenizer.json: ids 0..255 are the bytes, then "he", "ll", "hell", "hello",
// "Ġw" with merges in both spellings; added tokens <|end|> (special) and <tag> (not special).
json ByteLevelJson() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(static_cast<uint8_t>(b))] = b;
  const std::string sp = ByteChar(' ');
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab[sp + "w"] = 260;
  json merges =
      json::array({"h e", json::array({"l", "l"}), "he ll", json::array({"hell", "o"}), sp + " w"});
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 261},
         {"content", "<|end|>"},
         {"special", true},
         {"lstrip", false},
         {"rstrip", false},
         {"normalized", false},
         {"single_word", false}},
        {{"id", 262},
         {"content", "<tag>"},
         {"special", false},
         {"lstrip", false},
         {"rstrip", false},
         {"normalized", false},
         {"single_word", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", false}}}};
}

// A character-level BPE with byte fallback (the Llama 2 layout): <unk> <s> </s>, 256 byte
// tokens, then "▁", "h", "i", "▁h", "▁hi".
json CharLevelJson() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    vocab[std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">"] = 3 + b;
  vocab["\xE2\x96\x81"] = 259;
  vocab["h"] = 260;
  vocab["i"] = 261;
  vocab["\xE2\x96\x81h"] = 262;
  vocab["\xE2\x96\x81hi"] = 263;
  auto added = [](int id, const char* text) {
    return json{{"id", id},        {"content", text},     {"special", true},     {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"single_word", false}};
  };
  return {
      {"added_tokens", {added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"byte_fallback", true},
        {"fuse_unk", true},
        {"vocab", vocab},
        {"merges", {"\xE2\x96\x81 h", "\xE2\x96\x81h i"}}}}};
}

TokenizerSpec Parse(const json& j, const std::string& config = "") {
  Result<TokenizerSpec> spec = ParseHfTokenizer(j.dump(), config, "dir");
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? std::move(spec).value() : TokenizerSpec{};
}

std::unique_ptr<Tokenizer> Make(const TokenizerSpec& spec) {
  auto tok = Tokenizer::Create(spec);
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

// The error of parsing `j`; "" when it parses.
std::string ErrorOf(const std::string& text, const std::string& config = "") {
  Result<TokenizerSpec> spec = ParseHfTokenizer(text, config, "dir");
  return spec.ok() ? "" : spec.status().message();
}

TEST(HfTokenizer, ByteLevelMergesInBothSpellingsAndAddedTokens) {
  const TokenizerSpec spec = Parse(ByteLevelJson());
  EXPECT_EQ(spec.kind, TokenizerSpec::Kind::kBpe);
  EXPECT_TRUE(spec.byte_level);
  ASSERT_EQ(spec.tokens.size(), 263u);
  EXPECT_EQ(spec.merges[1], "l l");
  EXPECT_EQ(spec.types[261], TokenizerSpec::kControl);
  EXPECT_EQ(spec.types[262], TokenizerSpec::kUserDefined);
  auto tok = Make(spec);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("hello world", false, false), (Ids{259, 260, 'o', 'r', 'l', 'd'}));
  // Special tokens only with parse_special; non-special added tokens always.
  EXPECT_EQ(tok->Encode("he<|end|>", false, true), (Ids{256, 261}));
  EXPECT_EQ(tok->Encode("<tag>he", false, false), (Ids{262, 256}));
  EXPECT_NE(tok->Encode("<|end|>", false, false), (Ids{261}));
  EXPECT_EQ(tok->Decode(tok->Encode("hello world<tag>", false, false)), "hello world<tag>");
}

TEST(HfTokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  json j = ByteLevelJson();
  j["model"]["vocab"]["lo"] = 263;  // reachable only without merging
  j["model"]["merges"].push_back("l o");
  auto with_merges = Make(Parse(j));
  EXPECT_EQ(with_merges->Encode("lo", false, false), (Ids{263}));
  // "hello" merges h e / l l / he ll / hell o; as a vocabulary word it is one token either way,
  // but "ll" + "o" would be two tokens without ignore_merges when "llo" is a word.
  j["model"]["vocab"]["llo"] = 264;
  auto plain = Make(Parse(j));
  EXPECT_EQ(plain->Encode("llo", false, false), (Ids{257, 'o'}));
  j["model"]["ignore_merges"] = true;
  auto ignoring = Make(Parse(j));
  EXPECT_EQ(ignoring->Encode("llo", false, false), (Ids{264}));
}

TEST(HfTokenizer, CharacterLevelWithPrependNormalizerAndByteFallback) {
  const TokenizerSpec spec = Parse(CharLevelJson());
  EXPECT_FALSE(spec.byte_level);
  EXPECT_TRUE(spec.byte_fallback);
  EXPECT_TRUE(spec.add_bos);
  EXPECT_EQ(spec.bos_id, 1);
  EXPECT_EQ(spec.unk_id, 0);
  EXPECT_EQ(spec.types[3 + 0x41], TokenizerSpec::kByte);
  EXPECT_TRUE(spec.add_space_prefix);  // the Strip decoder
  auto tok = Make(spec);
  ASSERT_NE(tok, nullptr);
  // "hi hi" -> "▁hi▁hi"; "x" is not in the vocabulary: byte fallback <0x78>.
  EXPECT_EQ(tok->Encode("hi hix", true, false), (Ids{1, 263, 263, 3 + 'x'}));
  // Prepend applies to every segment between added tokens.
  EXPECT_EQ(tok->Encode("hi</s>hi", false, true), (Ids{263, 2, 263}));
  EXPECT_EQ(tok->Decode(tok->Encode("hi hix", false, false)), "hi hix");
  EXPECT_EQ(tok->Decode(tok->Encode(" h\xC3\xA9", false, false)), " h\xC3\xA9");
}

TEST(HfTokenizer, MetaspaceFirstPrependsOnlyAtTheStartOfTheInput) {
  json j = CharLevelJson();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"},
                        {"replacement", "\xE2\x96\x81"},
                        {"prepend_scheme", "first"},
                        {"split", true}};
  auto tok = Make(Parse(j));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("hi</s>hi", false, true), (Ids{263, 2, 260, 261}));
  EXPECT_EQ(tok->Encode(" hi", false, true), (Ids{263}));  // already starts with "▁"
  j["pre_tokenizer"]["prepend_scheme"] = "always";
  auto always = Make(Parse(j));
  EXPECT_EQ(always->Encode("hi</s>hi", false, true), (Ids{263, 2, 263}));
  j["pre_tokenizer"]["prepend_scheme"] = "sometimes";
  EXPECT_NE(ErrorOf(j.dump()).find("dir/tokenizer.json: pre_tokenizer.prepend_scheme: 'sometimes'"),
            std::string::npos);
}

TEST(HfTokenizer, NfcNormalizerComposes) {
  EXPECT_EQ(NfcNormalize("e\xCC\x81"), "\xC3\xA9");  // e + U+0301 -> é
  EXPECT_EQ(NfcNormalize("\xFF"
                         "e\xCC\x81\xFE"),
            "\xFF\xC3\xA9\xFE");  // invalid bytes kept
  json j = ByteLevelJson();
  j["normalizer"] = {{"type", "NFC"}};
  auto tok = Make(Parse(j));
  EXPECT_EQ(tok->Encode("e\xCC\x81", false, false), tok->Encode("\xC3\xA9", false, false));
}

TEST(HfTokenizer, SplitBehaviours) {
  using B = TokenizerSpec::PreSplit::Behavior;
  auto split = [](B behavior, std::string_view text) {
    auto pre = PreTokenizer::FromSplits({{" ", behavior}});
    EXPECT_TRUE(pre.ok());
    std::vector<std::string_view> pieces;
    pre.value().Split(text, &pieces);
    return std::vector<std::string>(pieces.begin(), pieces.end());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split(B::kIsolated, "a b  c"), (V{"a", " ", "b", " ", " ", "c"}));
  EXPECT_EQ(split(B::kMergedWithPrevious, "a b  c"), (V{"a ", "b ", " ", "c"}));
  EXPECT_EQ(split(B::kMergedWithNext, "a b  c"), (V{"a", " b", " ", " c"}));
  EXPECT_EQ(split(B::kRemoved, "a b  c"), (V{"a", "b", "c"}));
  EXPECT_FALSE(PreTokenizer::FromSplits({{"(", B::kIsolated}}).ok());
}

TEST(HfTokenizer, AddedTokenStripFlags) {
  json j = ByteLevelJson();
  j["added_tokens"][1]["lstrip"] = true;
  j["added_tokens"][1]["rstrip"] = true;
  auto tok = Make(Parse(j));
  EXPECT_EQ(tok->Encode("he  <tag>  he", false, false), (Ids{256, 262, 256}));
}

TEST(HfTokenizer, ConfigGivesSpecialTokensAndChatTemplate) {
  const std::string config = R"({"add_bos_token": true, "bos_token": {"content": "<|end|>"},
      "eos_token": "<|end|>", "pad_token": null, "chat_template": [{"name": "tool", "template": "T"},
      {"name": "default", "template": "{{ messages }}"}]})";
  const TokenizerSpec spec = Parse(ByteLevelJson(), config);
  EXPECT_TRUE(spec.add_bos);
  EXPECT_EQ(spec.bos_id, 261);
  EXPECT_EQ(spec.eos_id, 261);
  EXPECT_EQ(spec.pad_id, -1);
  EXPECT_EQ(spec.chat_template, "{{ messages }}");
  EXPECT_NE(ErrorOf(ByteLevelJson().dump(), R"({"eos_token": "<nope>"})")
                .find("dir/tokenizer_config.json: eos_token: '<nope>' is not a token"),
            std::string::npos);
}

TEST(HfTokenizer, BadInputGivesOneLineErrorsNamingFileAndField) {
  struct Case {
    std::string text;
    std::string expect;  // substring of the message
  };
  auto edit = [](auto&& f) {
    json j = ByteLevelJson();
    f(j);
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"[1, 2]", "dir/tokenizer.json: (root): expected a JSON object"},
      {"{\"model\": ", "dir/tokenizer.json: (root): is not valid JSON"},
      {"{}", "dir/tokenizer.json: model: is missing"},
      {edit([](json& j) { j["model"]["type"] = "Unigram"; }),
       "model.type: 'Unigram' is not supported; expected BPE"},
      {edit([](json& j) { j["pre_tokenizer"]["type"] = "Whitespace"; }),
       "pre_tokenizer.type: 'Whitespace' is not supported; expected one of ByteLevel, Split"},
      {edit([](json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       }),
       "normalizer.type: 'Lowercase' is not supported"},
      {edit([](json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       }),
       "decoder.type: 'WordPiece' is not supported"},
      {edit([](json& j) {
         j["post_processor"] = {{"type", "BertProcessing"}};
       }),
       "post_processor.type: 'BertProcessing'"},
      {edit([](json& j) { j["model"]["merges"].push_back("h zz"); }),
       "model.merges[5]: 'h zz' names 'zz', which is not in model.vocab"},
      {edit([](json& j) { j["model"]["merges"].push_back("a b c"); }),
       "model.merges[5]: 'a b c' is not two tokens"},
      {edit([](json& j) { j["model"]["vocab"]["zz"] = 1 << 23; }),
       "model.vocab: id 8388608 is outside"},
      {edit([](json& j) { j["model"]["vocab"]["zz"] = -1; }), "model.vocab: id -1 is outside"},
      {edit([](json& j) { j["model"]["vocab"]["zz"] = 256; }),
       "model.vocab: id 256 is used by both"},
      {edit([](json& j) { j["added_tokens"][0]["id"] = 300; }), "model.vocab: id 261 has no token"},
      {edit([](json& j) { j["added_tokens"][0]["id"] = 256; }),
       "added_tokens[0].id: id 256 is used by both 'he' and '<|end|>'"},
      {edit([](json& j) { j["model"]["vocab"]["zz"] = "x"; }),
       "model.vocab: entry 'zz' is not an integer id"},
      {edit([](json& j) { j["model"]["merges"] = 3; }),
       "model.merges: expected an array, got number"},
      {edit([](json& j) { j["added_tokens"][0]["special"] = "yes"; }),
       "added_tokens[0].special: expected true or false"},
      {edit([](json& j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Contiguous"}};
       }),
       "pre_tokenizer.behavior: 'Contiguous' is not supported"},
  };
  for (const Case& c : cases) {
    const std::string error = ErrorOf(c.text);
    EXPECT_NE(error.find(c.expect), std::string::npos)
        << "got: " << error << "\nexpected: " << c.expect;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // A regex that does not compile fails in Tokenizer::Create, naming the split.
  json j = ByteLevelJson();
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  auto tok = Tokenizer::Create(Parse(j));
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("pre-tokenizer split 0 '(unclosed'"), std::string::npos);
}

TEST(HfTokenizer, WriterRoundTripsBothKinds) {
  for (const json& j : {ByteLevelJson(), CharLevelJson()}) {
    const TokenizerSpec spec = Parse(j);
    Result<HfTokenizerFiles> files = HfTokenizerFromSpec(spec);
    ASSERT_TRUE(files.ok()) << files.status().message();
    const TokenizerSpec back =
        Parse(json::parse(files.value().tokenizer_json), files.value().config_json);
    EXPECT_EQ(back.tokens, spec.tokens);
    EXPECT_EQ(back.types, spec.types);
    EXPECT_EQ(back.merges, spec.merges);
    EXPECT_EQ(back.bos_id, spec.bos_id);
    EXPECT_EQ(back.add_bos, spec.add_bos);
    auto a = Make(spec), b = Make(back);
    for (const char* text : {"hello world hi", " hi<|end|>hi</s>x", "\xE6\x97\xA5 <tag>"}) {
      EXPECT_EQ(a->Encode(text, true, true), b->Encode(text, true, true)) << text;
    }
  }
}

TEST(HfTokenizer, WriterTurnsSentencePieceScoresIntoMerges) {
  // Pieces by score: "ab" (best), "bc", "abc"; "abc" splits into ab+c and a+bc.
  TokenizerSpec spm;
  spm.kind = TokenizerSpec::Kind::kSpm;
  spm.tokens = {"<unk>", "a", "b", "c", "ab", "bc", "abc"};
  spm.scores = {0, -10, -10, -10, -1, -2, -3};
  spm.types = {TokenizerSpec::kUnknown, 1, 1, 1, 1, 1, 1};
  spm.unk_id = 0;
  Result<HfTokenizerFiles> files = HfTokenizerFromSpec(spm);
  ASSERT_TRUE(files.ok()) << files.status().message();
  const json written = json::parse(files.value().tokenizer_json);
  const json expect = json::array({json::array({"a", "b"}), json::array({"b", "c"}),
                                   json::array({"a", "bc"}), json::array({"ab", "c"})});
  EXPECT_EQ(written["model"]["merges"], expect);
  auto spm_tok = Make(spm);
  auto bpe_tok = Make(Parse(written));
  for (const char* text : {"abc", "abcabc", "cab", "bcab"}) {
    EXPECT_EQ(spm_tok->Encode(text, false, false), bpe_tok->Encode(text, false, false)) << text;
  }
}

TEST(HfTokenizer, ReadsAndWritesFolders) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "fs_hf_tokenizer_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Result<TokenizerSpec> missing = ReadHfTokenizer(dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("tokenizer.json: cannot open"), std::string::npos);
  TokenizerSpec spec = Parse(CharLevelJson());
  spec.chat_template = "{{ x }}";
  ASSERT_TRUE(WriteHfTokenizer(spec, dir.string()).ok());
  Result<TokenizerSpec> back = ReadHfTokenizer(dir.string());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back.value().tokens, spec.tokens);
  EXPECT_EQ(back.value().chat_template, "{{ x }}");
  EXPECT_FALSE(WriteHfTokenizer(spec, (dir / "absent").string()).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flashstream
