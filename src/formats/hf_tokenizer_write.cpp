// HfTokenizerFromSpec / WriteHfTokenizer: TokenizerSpec -> tokenizer.json + tokenizer_config.json.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>  // ordered_json keeps the vocabulary in id order
#include <unordered_map>

#include "formats/hf_tokenizer.h"
#include "formats/pre_patterns.h"  // GGUF pre-tokenizer names -> regexes

namespace flashstream {
namespace {

using ojson = nlohmann::ordered_json;
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // "▁"

bool IsMergeable(int32_t type) {
  return type == 0 || type == TokenizerSpec::kNormal || type == TokenizerSpec::kUserDefined;
}

int32_t TypeOf(const TokenizerSpec& spec, size_t i) {
  return spec.types.empty() ? TokenizerSpec::kNormal : spec.types[i];
}

ojson Split(const std::string& regex, std::string_view behavior) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", behavior},
          {"invert", false}};
}

ojson ByteLevel(bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", use_regex}};
}

ojson ReplaceSpace(std::string_view from, std::string_view to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

const char* BehaviorName(TokenizerSpec::PreSplit::Behavior b) {
  switch (b) {
    case TokenizerSpec::PreSplit::Behavior::kIsolated:
      return "Isolated";
    case TokenizerSpec::PreSplit::Behavior::kMergedWithPrevious:
      return "MergedWithPrevious";
    case TokenizerSpec::PreSplit::Behavior::kMergedWithNext:
      return "MergedWithNext";
    case TokenizerSpec::PreSplit::Behavior::kRemoved:
      return "Removed";
  }
  return "Isolated";
}

const char* SchemeName(TokenizerSpec::Metaspace m) {
  switch (m) {
    case TokenizerSpec::Metaspace::kAlways:
      return "always";
    case TokenizerSpec::Metaspace::kFirst:
      return "first";
    default:
      return "never";
  }
}

Result<ojson> PreTokenizerJson(const TokenizerSpec& spec) {
  ojson steps = ojson::array();
  if (spec.pre == TokenizerSpec::kPreFromSplits) {
    if (spec.metaspace != TokenizerSpec::Metaspace::kNone) {
      steps.push_back({{"type", "Metaspace"},
                       {"replacement", kMetaspace},
                       {"prepend_scheme", SchemeName(spec.metaspace)},
                       {"split", spec.metaspace_split}});
    }
    for (const TokenizerSpec::PreSplit& s : spec.pre_splits)
      steps.push_back(Split(s.regex, BehaviorName(s.behavior)));
    if (spec.kind == TokenizerSpec::Kind::kBpe && spec.byte_level)
      steps.push_back(ByteLevel(false));
  } else if (spec.kind == TokenizerSpec::Kind::kBpe) {
    const pre_patterns::Named* named = pre_patterns::Find(spec.pre);
    if (named == nullptr)
      return Errorf("tokenizer pre-tokenizer '{}' has no tokenizer.json form", spec.pre);
    for (const char* p : named->patterns) {
      if (p != nullptr) steps.push_back(Split(p, "Isolated"));
    }
    steps.push_back(ByteLevel(false));
  }
  if (steps.empty()) return ojson(nullptr);
  if (steps.size() == 1) return steps[0];
  return ojson{{"type", "Sequence"}, {"pretokenizers", steps}};
}

ojson NormalizerJson(const TokenizerSpec& spec) {
  ojson steps = ojson::array();
  if (spec.kind == TokenizerSpec::Kind::kSpm) {
    if (spec.add_space_prefix) steps.push_back({{"type", "Prepend"}, {"prepend", kMetaspace}});
    steps.push_back(ReplaceSpace(" ", kMetaspace));
  }
  for (const TokenizerSpec::NormalizerStep& s : spec.normalizer) {
    switch (s.type) {
      case TokenizerSpec::NormalizerStep::Type::kNfc:
        steps.push_back({{"type", "NFC"}});
        break;
      case TokenizerSpec::NormalizerStep::Type::kPrepend:
        steps.push_back({{"type", "Prepend"}, {"prepend", s.content}});
        break;
      case TokenizerSpec::NormalizerStep::Type::kReplace:
        steps.push_back(ReplaceSpace(s.pattern, s.content));
        break;
    }
  }
  if (steps.empty()) return nullptr;
  if (steps.size() == 1) return steps[0];
  return {{"type", "Sequence"}, {"normalizers", steps}};
}

ojson DecoderJson(const TokenizerSpec& spec) {
  if (spec.kind == TokenizerSpec::Kind::kBpe && spec.byte_level) return ByteLevel(true);
  ojson steps =
      ojson::array({ReplaceSpace(kMetaspace, " "), {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
  if (spec.add_space_prefix)
    steps.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return {{"type", "Sequence"}, {"decoders", steps}};
}

ojson PostProcessorJson(const TokenizerSpec& spec) {
  ojson single = ojson::array(), pair = ojson::array(), specials = ojson::object();
  auto special = [&](int32_t id, int type_id) {
    const std::string& text = spec.tokens[static_cast<size_t>(id)];
    specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
    return ojson{{"SpecialToken", {{"id", text}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return ojson{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  const bool bos = spec.add_bos && spec.bos_id >= 0, eos = spec.add_eos && spec.eos_id >= 0;
  if (bos) single.push_back(special(spec.bos_id, 0));
  single.push_back(sequence("A", 0));
  if (eos) single.push_back(special(spec.eos_id, 0));
  pair = single;
  if (bos) pair.push_back(special(spec.bos_id, 1));
  pair.push_back(sequence("B", 1));
  if (eos) pair.push_back(special(spec.eos_id, 1));
  return {{"type", "TemplateProcessing"},
          {"single", single},
          {"pair", pair},
          {"special_tokens", specials}};
}

// SentencePiece pieces -> BPE merges as Hugging Face's SentencePiece conversion orders them:
// every split of a mergeable piece into two mergeable pieces, by the piece's score
// (descending, stable), pieces in id order, splits of one piece by (left id, right id).
std::vector<std::pair<int32_t, int32_t>> SpmMerges(
    const TokenizerSpec& spec, const std::unordered_map<std::string_view, int32_t>& ids) {
  struct Merge {
    float score;
    int32_t left, right;
  };
  std::vector<Merge> merges;
  std::vector<std::pair<int32_t, int32_t>> local;
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (!IsMergeable(TypeOf(spec, i))) continue;
    const std::string_view piece = spec.tokens[i];
    local.clear();
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<unsigned char>(piece[cut]) & 0xC0) == 0x80) continue;  // inside a character
      const auto l = ids.find(piece.substr(0, cut)), r = ids.find(piece.substr(cut));
      if (l == ids.end() || r == ids.end()) continue;
      if (!IsMergeable(TypeOf(spec, static_cast<size_t>(l->second))) ||
          !IsMergeable(TypeOf(spec, static_cast<size_t>(r->second)))) {
        continue;
      }
      if (l->first.find(' ') != std::string_view::npos ||
          r->first.find(' ') != std::string_view::npos)
        continue;
      local.emplace_back(l->second, r->second);
    }
    std::sort(local.begin(), local.end());
    const float score = spec.scores.empty() ? 0.f : spec.scores[i];
    for (const auto& [l, r] : local) merges.push_back({score, l, r});
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::pair<int32_t, int32_t>> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.emplace_back(m.left, m.right);
  return out;
}

// The "model" object's JSON text. The vocabulary is written by hand: ordered_json objects
// insert in linear time, far too slow for 100k+ entries.
Result<std::string> ModelJson(const TokenizerSpec& spec, ojson* added) {
  const bool spm = spec.kind == TokenizerSpec::Kind::kSpm;
  std::unordered_map<std::string_view, int32_t> ids;
  std::string vocab = "{";
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    const int32_t type = TypeOf(spec, i);
    const bool is_added = type == TokenizerSpec::kControl || type == TokenizerSpec::kUnknown ||
                          type == TokenizerSpec::kUserDefined;
    const auto [it, inserted] = ids.try_emplace(spec.tokens[i], static_cast<int32_t>(i));
    if (!inserted) {
      return Errorf(
          "tokenizer: token text '{}' is used by ids {} and {}; tokenizer.json needs unique texts",
          spec.tokens[i], it->second, i);
    }
    if (i > 0) vocab += ',';
    vocab += ojson(spec.tokens[i]).dump();
    vocab += ':';
    vocab += std::to_string(i);
    if (is_added) {
      added->push_back({{"id", i},
                        {"content", spec.tokens[i]},
                        {"single_word", false},
                        {"lstrip", false},
                        {"rstrip", false},
                        {"normalized", false},
                        {"special", type != TokenizerSpec::kUserDefined}});
    }
  }
  for (const TokenizerSpec::AddedToken& a : spec.added_tokens) {  // flags from a tokenizer.json
    for (ojson& entry : *added) {
      if (entry["id"] != a.id) continue;
      entry["lstrip"] = a.lstrip;
      entry["rstrip"] = a.rstrip;
      entry["normalized"] = a.normalized;
      entry["special"] = a.special;
    }
  }
  ojson merges = ojson::array();
  if (spm) {
    for (const auto& [l, r] : SpmMerges(spec, ids)) {
      merges.push_back({spec.tokens[static_cast<size_t>(l)], spec.tokens[static_cast<size_t>(r)]});
    }
  } else {
    for (const std::string& m : spec.merges) {
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos)
        return Errorf("tokenizer merge '{}': expected 'left right'", m);
      const std::string left = m.substr(0, space), right = m.substr(space + 1);
      // Merges naming absent tokens have no effect (llama.cpp skips them); tokenizer.json rejects
      // them.
      if (!ids.contains(left) || !ids.contains(right) || !ids.contains(left + right)) continue;
      merges.push_back({left, right});
    }
  }
  const bool byte_fallback = spm || spec.byte_fallback;
  ojson unk = nullptr;
  if (spec.unk_id >= 0) unk = spec.tokens[static_cast<size_t>(spec.unk_id)];
  vocab += '}';
  const ojson head = {{"type", "BPE"},
                      {"dropout", nullptr},
                      {"unk_token", unk},
                      {"continuing_subword_prefix", nullptr},
                      {"end_of_word_suffix", nullptr},
                      {"fuse_unk", byte_fallback},
                      {"byte_fallback", byte_fallback},
                      {"ignore_merges", spec.ignore_merges}};
  std::string text = head.dump();
  text.pop_back();  // the closing brace
  return text + ",\"vocab\":" + vocab + ",\"merges\":" + merges.dump() + "}";
}

ojson ConfigJson(const TokenizerSpec& spec) {
  auto text = [&](int32_t id) -> ojson {
    if (id < 0 || static_cast<size_t>(id) >= spec.tokens.size()) return nullptr;
    return spec.tokens[static_cast<size_t>(id)];
  };
  ojson c = {
      {"add_bos_token", spec.add_bos},         {"add_eos_token", spec.add_eos},
      {"bos_token", text(spec.bos_id)},        {"eos_token", text(spec.eos_id)},
      {"unk_token", text(spec.unk_id)},        {"pad_token", text(spec.pad_id)},
      {"clean_up_tokenization_spaces", false}, {"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (!spec.chat_template.empty()) c["chat_template"] = spec.chat_template;
  return c;
}

}  // namespace

Result<HfTokenizerFiles> HfTokenizerFromSpec(const TokenizerSpec& spec) {
  if (spec.kind == TokenizerSpec::Kind::kNone) return Errorf("tokenizer: no tokenizer to write");
  if (spec.tokens.empty()) return Errorf("tokenizer: no tokens to write");
  if (!spec.types.empty() && spec.types.size() != spec.tokens.size()) {
    return Errorf("tokenizer: {} token types for {} tokens", spec.types.size(), spec.tokens.size());
  }
  if (!spec.scores.empty() && spec.scores.size() != spec.tokens.size()) {
    return Errorf("tokenizer: {} scores for {} tokens", spec.scores.size(), spec.tokens.size());
  }
  for (int32_t id : {spec.bos_id, spec.eos_id, spec.unk_id, spec.pad_id}) {
    if (id < -1 || id >= static_cast<int64_t>(spec.tokens.size())) {
      return Errorf("tokenizer: special token id {} is outside the vocabulary of {}", id,
                    spec.tokens.size());
    }
  }
  try {
    ojson added = ojson::array();
    FS_ASSIGN_OR_RETURN(std::string model, ModelJson(spec, &added));
    FS_ASSIGN_OR_RETURN(ojson pre, PreTokenizerJson(spec));
    const ojson root = {{"version", "1.0"},
                        {"truncation", nullptr},
                        {"padding", nullptr},
                        {"added_tokens", std::move(added)},
                        {"normalizer", NormalizerJson(spec)},
                        {"pre_tokenizer", std::move(pre)},
                        {"post_processor", PostProcessorJson(spec)},
                        {"decoder", DecoderJson(spec)}};
    std::string text = root.dump();
    text.pop_back();  // the closing brace: "model" goes last
    return HfTokenizerFiles{text + ",\"model\":" + model + "}", ConfigJson(spec).dump(2)};
  } catch (const nlohmann::json::exception& e) {  // a token text that is not valid UTF-8
    return Errorf("tokenizer: cannot write tokenizer.json: {}", e.what());
  }
}

Status WriteHfTokenizer(const TokenizerSpec& spec, const std::string& folder) {
  FS_ASSIGN_OR_RETURN(HfTokenizerFiles files, HfTokenizerFromSpec(spec));
  for (const auto& [name, text] : {std::pair{"tokenizer.json", &files.tokenizer_json},
                                   std::pair{"tokenizer_config.json", &files.config_json}}) {
    const std::string path = folder + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << *text;
    out.close();
    if (!out) return Errorf("{}: cannot write the file", path);
  }
  return Status::Ok();
}

}  // namespace flashstream
