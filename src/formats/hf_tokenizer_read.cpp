// ReadHfTokenizer / ParseHfTokenizer: tokenizer.json + tokenizer_config.json -> TokenizerSpec.
// The model part (vocabulary, merges, added tokens, ids) is here; the pipeline components
// (normalizer, pre-tokenizer, decoder, post-processor) are in hf_tokenizer_pipeline.cpp.
#include <fstream>
#include <nlohmann/json.hpp>  // tokenizer.json / tokenizer_config.json parsing
#include <sstream>
#include <unordered_map>

#include "formats/hf_tokenizer.h"
#include "formats/hf_tokenizer_json.h"  // HfJson helpers and the pipeline readers

namespace flashstream {
namespace {

using hf_json::Ctx;
using nlohmann::json;

constexpr size_t kMaxTokens = size_t{1} << 22;

bool IsByteTokenText(std::string_view t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.starts_with("<0x") && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

Status PutToken(const Ctx& ctx, const std::string& field, int64_t id, const std::string& text,
                std::vector<std::string>* tokens, std::vector<uint8_t>* filled) {
  if (id < 0 || static_cast<size_t>(id) >= kMaxTokens) {
    return ctx.Error(field, fmt::format("id {} is outside 0..{}", id, kMaxTokens - 1));
  }
  const auto i = static_cast<size_t>(id);
  if (i >= tokens->size()) {
    tokens->resize(i + 1);
    filled->resize(i + 1, 0);
  }
  if ((*filled)[i] && (*tokens)[i] != text) {
    return ctx.Error(field,
                     fmt::format("id {} is used by both '{}' and '{}'", id, (*tokens)[i], text));
  }
  (*tokens)[i] = text;
  (*filled)[i] = 1;
  return Status::Ok();
}

// model: {"type": "BPE", "vocab": {...}, "merges": [...], ...} -> tokens, merges, BPE flags.
Status ReadModel(const Ctx& ctx, const json& root, TokenizerSpec* spec,
                 std::unordered_map<std::string, int32_t>* vocab, std::vector<std::string>* tokens,
                 std::vector<uint8_t>* filled) {
  const json* model = nullptr;
  FS_RETURN_IF_ERROR(ctx.Object(root, "model", "model", /*required=*/true, &model));
  std::string type = "BPE";
  FS_RETURN_IF_ERROR(ctx.String(*model, "type", "model.type", false, &type));
  if (type != "BPE") {
    return ctx.Error("model.type", fmt::format("'{}' is not supported; expected BPE", type));
  }
  const json* v = nullptr;
  FS_RETURN_IF_ERROR(ctx.Object(*model, "vocab", "model.vocab", true, &v));
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return ctx.Error("model.vocab", fmt::format("entry '{}' is not an integer id", it.key()));
    }
    const int64_t id = it.value().get<int64_t>();
    FS_RETURN_IF_ERROR(PutToken(ctx, "model.vocab", id, it.key(), tokens, filled));
    (*vocab)[it.key()] = static_cast<int32_t>(id);
  }
  FS_RETURN_IF_ERROR(
      ctx.Bool(*model, "byte_fallback", "model.byte_fallback", &spec->byte_fallback));
  FS_RETURN_IF_ERROR(
      ctx.Bool(*model, "ignore_merges", "model.ignore_merges", &spec->ignore_merges));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    std::string value;
    FS_RETURN_IF_ERROR(ctx.String(*model, key, std::string("model.") + key, false, &value));
    if (!value.empty()) {
      return ctx.Error(std::string("model.") + key,
                       fmt::format("'{}' is not supported; expected null or \"\"", value));
    }
  }
  if (model->contains("dropout") && !(*model)["dropout"].is_null() &&
      !((*model)["dropout"].is_number() && (*model)["dropout"].get<double>() == 0.0)) {
    return ctx.Error("model.dropout", "BPE dropout is not supported; expected null");
  }
  std::string unk;
  FS_RETURN_IF_ERROR(ctx.String(*model, "unk_token", "model.unk_token", false, &unk));
  if (!unk.empty()) {
    const auto it = vocab->find(unk);
    if (it == vocab->end()) {
      return ctx.Error("model.unk_token", fmt::format("'{}' is not in model.vocab", unk));
    }
    spec->unk_id = it->second;
  }

  const json* merges = nullptr;
  FS_RETURN_IF_ERROR(ctx.Array(*model, "merges", "model.merges", true, &merges));
  spec->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    const std::string field = fmt::format("model.merges[{}]", i);
    std::string left, right;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos || space + 1 >= s.size() ||
          s.find(' ', space + 1) != std::string::npos) {
        return ctx.Error(field, fmt::format("'{}' is not two tokens separated by one space", s));
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
      if (left.empty() || right.empty() || left.find(' ') != std::string::npos ||
          right.find(' ') != std::string::npos) {
        return ctx.Error(
            field, fmt::format("['{}', '{}']: empty parts or parts with a space are not supported",
                               left, right));
      }
    } else {
      return ctx.Error(field, "expected \"left right\" or [\"left\", \"right\"]");
    }
    for (const std::string& part : {left, right, left + right}) {
      if (!vocab->contains(part)) {
        return ctx.Error(field, fmt::format("'{} {}' names '{}', which is not in model.vocab", left,
                                            right, part));
      }
    }
    spec->merges.push_back(left + " " + right);
  }
  return Status::Ok();
}

// added_tokens: [{"id", "content", "special", "lstrip", "rstrip", "normalized", "single_word"}].
Status ReadAddedTokens(const Ctx& ctx, const json& root, TokenizerSpec* spec,
                       std::vector<std::string>* tokens, std::vector<uint8_t>* filled) {
  const json* added = nullptr;
  FS_RETURN_IF_ERROR(ctx.Array(root, "added_tokens", "added_tokens", false, &added));
  if (added == nullptr) return Status::Ok();
  for (size_t i = 0; i < added->size(); ++i) {
    const std::string field = fmt::format("added_tokens[{}]", i);
    const json& a = (*added)[i];
    if (!a.is_object()) return ctx.Error(field, "expected an object");
    TokenizerSpec::AddedToken t;
    int64_t id = -1;
    FS_RETURN_IF_ERROR(ctx.Int(a, "id", field + ".id", true, &id));
    FS_RETURN_IF_ERROR(ctx.String(a, "content", field + ".content", true, &t.content));
    if (t.content.empty()) return ctx.Error(field + ".content", "is empty");
    bool single_word = false;
    FS_RETURN_IF_ERROR(ctx.Bool(a, "special", field + ".special", &t.special));
    FS_RETURN_IF_ERROR(ctx.Bool(a, "lstrip", field + ".lstrip", &t.lstrip));
    FS_RETURN_IF_ERROR(ctx.Bool(a, "rstrip", field + ".rstrip", &t.rstrip));
    FS_RETURN_IF_ERROR(ctx.Bool(a, "normalized", field + ".normalized", &t.normalized));
    FS_RETURN_IF_ERROR(ctx.Bool(a, "single_word", field + ".single_word", &single_word));
    if (single_word)
      return ctx.Error(field + ".single_word", "true is not supported; expected false");
    FS_RETURN_IF_ERROR(PutToken(ctx, field + ".id", id, t.content, tokens, filled));
    t.id = static_cast<int32_t>(id);
    spec->added_tokens.push_back(std::move(t));
  }
  return Status::Ok();
}

// A token named in tokenizer_config.json: a string or {"content": "..."}; null = absent.
Status ConfigToken(const Ctx& cfg, const json& config, const char* key,
                   const std::unordered_map<std::string, int32_t>& ids, int32_t* id) {
  if (!config.contains(key) || config[key].is_null()) return Status::Ok();
  const json& v = config[key];
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    text = v["content"].get<std::string>();
  } else {
    return cfg.Error(key, "expected a token text or {\"content\": ...}");
  }
  const auto it = ids.find(text);
  if (it == ids.end())
    return cfg.Error(key, fmt::format("'{}' is not a token of tokenizer.json", text));
  *id = it->second;
  return Status::Ok();
}

Status ReadConfig(const Ctx& cfg, const json& config, const std::vector<std::string>& tokens,
                  TokenizerSpec* spec) {
  if (!config.is_object()) return cfg.Error("(root)", "expected a JSON object");
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) ids.try_emplace(tokens[i], static_cast<int32_t>(i));
  FS_RETURN_IF_ERROR(ConfigToken(cfg, config, "bos_token", ids, &spec->bos_id));
  FS_RETURN_IF_ERROR(ConfigToken(cfg, config, "eos_token", ids, &spec->eos_id));
  FS_RETURN_IF_ERROR(ConfigToken(cfg, config, "unk_token", ids, &spec->unk_id));
  FS_RETURN_IF_ERROR(ConfigToken(cfg, config, "pad_token", ids, &spec->pad_id));
  FS_RETURN_IF_ERROR(cfg.Bool(config, "add_bos_token", "add_bos_token", &spec->add_bos));
  FS_RETURN_IF_ERROR(cfg.Bool(config, "add_eos_token", "add_eos_token", &spec->add_eos));
  if (config.contains("chat_template")) {
    const json& t = config["chat_template"];
    if (t.is_string()) {
      spec->chat_template = t.get<std::string>();
    } else if (t.is_array()) {  // [{"name": ..., "template": ...}]: the "default" one, else the
                                // first
      for (const json& e : t) {
        if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) {
          return cfg.Error("chat_template",
                           "expected a string or a list of {\"name\", \"template\"}");
        }
        const bool is_default = e.contains("name") && e["name"] == "default";
        if (spec->chat_template.empty() || is_default)
          spec->chat_template = e["template"].get<std::string>();
      }
    } else if (!t.is_null()) {
      return cfg.Error("chat_template", "expected a string or a list of {\"name\", \"template\"}");
    }
  }
  return Status::Ok();
}

Result<std::string> ReadText(const std::string& path, bool required, bool* found) {
  std::ifstream in(path, std::ios::binary);
  *found = static_cast<bool>(in);
  if (!in) {
    if (required) return Errorf("{}: cannot open the file", path);
    return std::string();
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Errorf("{}: read error", path);
  return text.str();
}

}  // namespace

Result<TokenizerSpec> ParseHfTokenizer(std::string_view tokenizer_json,
                                       std::string_view config_json, const std::string& folder) {
  const Ctx ctx{folder + "/tokenizer.json"};
  const Ctx cfg{folder + "/tokenizer_config.json"};
  const json root = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return ctx.Error("(root)", "is not valid JSON");
  if (!root.is_object()) return ctx.Error("(root)", "expected a JSON object");
  json config;
  if (!config_json.empty()) {
    config = json::parse(config_json, nullptr, false);
    if (config.is_discarded()) return cfg.Error("(root)", "is not valid JSON");
  }
  try {
    TokenizerSpec spec;
    spec.kind = TokenizerSpec::Kind::kBpe;
    spec.pre = TokenizerSpec::kPreFromSplits;
    std::unordered_map<std::string, int32_t> vocab;
    std::vector<uint8_t> filled;
    FS_RETURN_IF_ERROR(ReadModel(ctx, root, &spec, &vocab, &spec.tokens, &filled));
    FS_RETURN_IF_ERROR(ReadAddedTokens(ctx, root, &spec, &spec.tokens, &filled));
    if (spec.tokens.empty()) return ctx.Error("model.vocab", "is empty");
    for (size_t i = 0; i < filled.size(); ++i) {
      if (!filled[i]) {
        return ctx.Error("model.vocab",
                         fmt::format("id {} has no token (ids must be 0..{} without gaps)", i,
                                     spec.tokens.size() - 1));
      }
    }
    spec.types.assign(spec.tokens.size(), TokenizerSpec::kNormal);
    if (spec.byte_fallback) {
      for (size_t i = 0; i < spec.tokens.size(); ++i) {
        if (IsByteTokenText(spec.tokens[i])) spec.types[i] = TokenizerSpec::kByte;
      }
    }
    // The unknown token keeps type normal unless it is an added token: Hugging Face matches only
    // added tokens in the text.
    for (const TokenizerSpec::AddedToken& t : spec.added_tokens) {
      spec.types[static_cast<size_t>(t.id)] =
          t.special ? TokenizerSpec::kControl : TokenizerSpec::kUserDefined;
    }
    FS_RETURN_IF_ERROR(hf_json::ReadPipeline(ctx, root, &spec));
    if (!config.is_null()) FS_RETURN_IF_ERROR(ReadConfig(cfg, config, spec.tokens, &spec));
    return spec;
  } catch (const json::exception& e) {  // a type the checks above missed: still one line
    return ctx.Error("(root)", fmt::format("unexpected JSON content: {}", e.what()));
  }
}

Result<TokenizerSpec> ReadHfTokenizer(const std::string& folder) {
  bool found = false;
  FS_ASSIGN_OR_RETURN(std::string tokenizer_json,
                      ReadText(folder + "/tokenizer.json", true, &found));
  FS_ASSIGN_OR_RETURN(std::string config_json,
                      ReadText(folder + "/tokenizer_config.json", false, &found));
  return ParseHfTokenizer(tokenizer_json, config_json, folder);
}

}  // namespace flashstream
