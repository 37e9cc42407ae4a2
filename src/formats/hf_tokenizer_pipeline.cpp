// tokenizer.json pipeline components -> TokenizerSpec fields: normalizer, pre_tokenizer,
// decoder and post_processor, each a tree of typed steps ("Sequence" nests them).
#include <cctype>
#include <string>

#include "formats/hf_tokenizer_json.h"

namespace flashstream::hf_json {
namespace {

constexpr int kMaxDepth = 8;                             // nested Sequences
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // "▁"

using Behavior = TokenizerSpec::PreSplit::Behavior;

Status UnknownType(const Ctx& ctx, const std::string& field, const std::string& type,
                   std::string_view expected) {
  return ctx.Error(field + ".type",
                   fmt::format("'{}' is not supported; expected one of {}", type, expected));
}

Status TypeOf(const Ctx& ctx, const json& j, const std::string& field, int depth,
              std::string* type) {
  if (depth > kMaxDepth)
    return ctx.Error(field, fmt::format("nested deeper than {} levels", kMaxDepth));
  if (!j.is_object())
    return ctx.Error(field, fmt::format("expected an object, got {}", j.type_name()));
  return ctx.String(j, "type", field + ".type", true, type);
}

// A {"String": s} or {"Regex": r} pattern as a PCRE2 regex (strings are matched literally).
Status Pattern(const Ctx& ctx, const json& j, const std::string& field, bool allow_regex,
               std::string* regex) {
  const json* p = nullptr;
  FS_RETURN_IF_ERROR(ctx.Object(j, "pattern", field + ".pattern", true, &p));
  std::string text;
  if (ctx.Get(*p, "String") != nullptr) {
    FS_RETURN_IF_ERROR(ctx.String(*p, "String", field + ".pattern.String", true, &text));
    if (text.empty()) return ctx.Error(field + ".pattern.String", "is empty");
    regex->clear();
    for (char c : text) {  // escape every ASCII punctuation character; others are literal
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x80 && !std::isalnum(u) && c != ' ' && u >= 0x20) regex->push_back('\\');
      regex->push_back(c);
    }
    return Status::Ok();
  }
  if (ctx.Get(*p, "Regex") != nullptr && allow_regex) {
    FS_RETURN_IF_ERROR(ctx.String(*p, "Regex", field + ".pattern.Regex", true, regex));
    if (regex->empty()) return ctx.Error(field + ".pattern.Regex", "is empty");
    return Status::Ok();
  }
  return ctx.Error(field + ".pattern", allow_regex
                                           ? "expected {\"String\": ...} or {\"Regex\": ...}"
                                           : "expected {\"String\": ...}");
}

Status ReadNormalizer(const Ctx& ctx, const json& j, const std::string& field, int depth,
                      TokenizerSpec* spec) {
  std::string type;
  FS_RETURN_IF_ERROR(TypeOf(ctx, j, field, depth, &type));
  using Step = TokenizerSpec::NormalizerStep;
  if (type == "Sequence") {
    const json* list = nullptr;
    FS_RETURN_IF_ERROR(ctx.Array(j, "normalizers", field + ".normalizers", true, &list));
    for (size_t i = 0; i < list->size(); ++i) {
      FS_RETURN_IF_ERROR(ReadNormalizer(
          ctx, (*list)[i], fmt::format("{}.normalizers[{}]", field, i), depth + 1, spec));
    }
  } else if (type == "NFC") {
    spec->normalizer.push_back({Step::Type::kNfc, "", ""});
  } else if (type == "Prepend") {
    Step step{Step::Type::kPrepend, "", ""};
    FS_RETURN_IF_ERROR(ctx.String(j, "prepend", field + ".prepend", true, &step.content));
    spec->normalizer.push_back(std::move(step));
  } else if (type == "Replace") {
    Step step{Step::Type::kReplace, "", ""};
    const json* p = nullptr;
    FS_RETURN_IF_ERROR(ctx.Object(j, "pattern", field + ".pattern", true, &p));
    FS_RETURN_IF_ERROR(ctx.String(*p, "String", field + ".pattern.String", true, &step.pattern));
    if (step.pattern.empty()) return ctx.Error(field + ".pattern.String", "is empty");
    FS_RETURN_IF_ERROR(ctx.String(j, "content", field + ".content", true, &step.content));
    spec->normalizer.push_back(std::move(step));
  } else {
    return UnknownType(ctx, field, type, "NFC, Prepend, Replace, Sequence");
  }
  return Status::Ok();
}

Status ReadPrepend(const Ctx& ctx, const json& j, const std::string& field,
                   TokenizerSpec::Metaspace* scheme) {
  using M = TokenizerSpec::Metaspace;
  *scheme = M::kAlways;
  bool add_prefix_space = true;  // the older spelling of the same choice
  FS_RETURN_IF_ERROR(
      ctx.Bool(j, "add_prefix_space", field + ".add_prefix_space", &add_prefix_space));
  if (!add_prefix_space) *scheme = M::kNever;
  std::string name;
  FS_RETURN_IF_ERROR(ctx.String(j, "prepend_scheme", field + ".prepend_scheme", false, &name));
  if (name.empty()) return Status::Ok();
  if (name == "always") {
    *scheme = M::kAlways;
  } else if (name == "first") {
    *scheme = M::kFirst;
  } else if (name == "never") {
    *scheme = M::kNever;
  } else {
    return ctx.Error(field + ".prepend_scheme",
                     fmt::format("'{}' is not one of always, first, never", name));
  }
  return Status::Ok();
}

struct PreState {
  bool byte_level = false;
};

Status ReadPre(const Ctx& ctx, const json& j, const std::string& field, int depth,
               TokenizerSpec* spec, PreState* state) {
  std::string type;
  FS_RETURN_IF_ERROR(TypeOf(ctx, j, field, depth, &type));
  if (type == "Sequence") {
    const json* list = nullptr;
    FS_RETURN_IF_ERROR(ctx.Array(j, "pretokenizers", field + ".pretokenizers", true, &list));
    for (size_t i = 0; i < list->size(); ++i) {
      FS_RETURN_IF_ERROR(ReadPre(ctx, (*list)[i], fmt::format("{}.pretokenizers[{}]", field, i),
                                 depth + 1, spec, state));
    }
  } else if (type == "ByteLevel") {
    bool add_prefix_space = false, use_regex = true;
    FS_RETURN_IF_ERROR(
        ctx.Bool(j, "add_prefix_space", field + ".add_prefix_space", &add_prefix_space));
    FS_RETURN_IF_ERROR(ctx.Bool(j, "use_regex", field + ".use_regex", &use_regex));
    if (add_prefix_space)
      return ctx.Error(field + ".add_prefix_space", "true is not supported; expected false");
    if (state->byte_level) return ctx.Error(field, "a second ByteLevel step is not supported");
    state->byte_level = true;
    if (use_regex) spec->pre_splits.push_back({TokenizerSpec::kGpt2Pattern, Behavior::kIsolated});
  } else if (type == "Split") {
    TokenizerSpec::PreSplit split;
    FS_RETURN_IF_ERROR(Pattern(ctx, j, field, /*allow_regex=*/true, &split.regex));
    bool invert = false;
    FS_RETURN_IF_ERROR(ctx.Bool(j, "invert", field + ".invert", &invert));
    if (invert) return ctx.Error(field + ".invert", "true is not supported; expected false");
    std::string behavior;
    FS_RETURN_IF_ERROR(ctx.String(j, "behavior", field + ".behavior", true, &behavior));
    if (behavior == "Isolated") {
      split.behavior = Behavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      split.behavior = Behavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      split.behavior = Behavior::kMergedWithNext;
    } else if (behavior == "Removed") {
      split.behavior = Behavior::kRemoved;
    } else {
      return ctx.Error(field + ".behavior",
                       fmt::format("'{}' is not supported; expected one of Isolated, "
                                   "MergedWithPrevious, MergedWithNext, Removed",
                                   behavior));
    }
    spec->pre_splits.push_back(std::move(split));
  } else if (type == "Digits") {
    bool individual = false;
    FS_RETURN_IF_ERROR(ctx.Bool(j, "individual_digits", field + ".individual_digits", &individual));
    spec->pre_splits.push_back({individual ? R"(\p{N})" : R"(\p{N}+)", Behavior::kIsolated});
  } else if (type == "Metaspace") {
    std::string replacement = std::string(kMetaspace);
    FS_RETURN_IF_ERROR(ctx.String(j, "replacement", field + ".replacement", false, &replacement));
    if (replacement != kMetaspace) {
      return ctx.Error(
          field + ".replacement",
          fmt::format("'{}' is not supported; expected \"\xE2\x96\x81\"", replacement));
    }
    if (spec->metaspace != TokenizerSpec::Metaspace::kNone || !spec->pre_splits.empty() ||
        state->byte_level) {
      return ctx.Error(field, "Metaspace is supported only as the first pre-tokenizer step");
    }
    FS_RETURN_IF_ERROR(ReadPrepend(ctx, j, field, &spec->metaspace));
    spec->metaspace_split = true;
    FS_RETURN_IF_ERROR(ctx.Bool(j, "split", field + ".split", &spec->metaspace_split));
  } else {
    return UnknownType(ctx, field, type, "ByteLevel, Split, Digits, Metaspace, Sequence");
  }
  return Status::Ok();
}

// Sets *strip_prefix when the decoder drops the space that encoding put in front.
Status ReadDecoder(const Ctx& ctx, const json& j, const std::string& field, int depth,
                   bool* strip_prefix) {
  std::string type;
  FS_RETURN_IF_ERROR(TypeOf(ctx, j, field, depth, &type));
  if (type == "Sequence") {
    const json* list = nullptr;
    FS_RETURN_IF_ERROR(ctx.Array(j, "decoders", field + ".decoders", true, &list));
    for (size_t i = 0; i < list->size(); ++i) {
      FS_RETURN_IF_ERROR(ReadDecoder(ctx, (*list)[i], fmt::format("{}.decoders[{}]", field, i),
                                     depth + 1, strip_prefix));
    }
  } else if (type == "Metaspace") {
    TokenizerSpec::Metaspace scheme;
    FS_RETURN_IF_ERROR(ReadPrepend(ctx, j, field, &scheme));
    if (scheme != TokenizerSpec::Metaspace::kNever) *strip_prefix = true;
  } else if (type == "Replace") {
    std::string from, to;
    FS_RETURN_IF_ERROR(Pattern(ctx, j, field, /*allow_regex=*/false, &from));
    FS_RETURN_IF_ERROR(ctx.String(j, "content", field + ".content", true, &to));
    if (from != kMetaspace || to != " ") {
      return ctx.Error(field, "only Replace(\"\xE2\x96\x81\", \" \") is supported");
    }
  } else if (type == "Strip") {
    std::string content;
    int64_t start = 0, stop = 0;
    FS_RETURN_IF_ERROR(ctx.String(j, "content", field + ".content", true, &content));
    FS_RETURN_IF_ERROR(ctx.Int(j, "start", field + ".start", false, &start));
    FS_RETURN_IF_ERROR(ctx.Int(j, "stop", field + ".stop", false, &stop));
    if (content != " " || start > 1 || start < 0 || stop != 0) {
      return ctx.Error(field, "only Strip(\" \", start 0 or 1, stop 0) is supported");
    }
    if (start == 1) *strip_prefix = true;
  } else if (type != "ByteLevel" && type != "ByteFallback" && type != "Fuse") {
    return UnknownType(ctx, field, type,
                       "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence");
  }
  return Status::Ok();
}

// The id of a TemplateProcessing special token named `name`.
Status TemplateTokenId(const Ctx& ctx, const json& j, const std::string& field,
                       const std::string& name, int32_t n_tokens, int32_t* id) {
  const json* specials = nullptr;
  FS_RETURN_IF_ERROR(ctx.Object(j, "special_tokens", field + ".special_tokens", true, &specials));
  const json* entry = nullptr;
  FS_RETURN_IF_ERROR(
      ctx.Object(*specials, name.c_str(), field + ".special_tokens." + name, true, &entry));
  const json* ids = nullptr;
  FS_RETURN_IF_ERROR(
      ctx.Array(*entry, "ids", field + ".special_tokens." + name + ".ids", true, &ids));
  if (ids->size() != 1 || !(*ids)[0].is_number_integer()) {
    return ctx.Error(field + ".special_tokens." + name + ".ids", "expected exactly one integer id");
  }
  const int64_t v = (*ids)[0].get<int64_t>();
  if (v < 0 || v >= n_tokens) {
    return ctx.Error(field + ".special_tokens." + name + ".ids",
                     fmt::format("id {} is outside 0..{}", v, n_tokens - 1));
  }
  *id = static_cast<int32_t>(v);
  return Status::Ok();
}

Status ReadPostProcessor(const Ctx& ctx, const json& j, const std::string& field, int depth,
                         TokenizerSpec* spec) {
  std::string type;
  FS_RETURN_IF_ERROR(TypeOf(ctx, j, field, depth, &type));
  if (type == "Sequence") {
    const json* list = nullptr;
    FS_RETURN_IF_ERROR(ctx.Array(j, "processors", field + ".processors", true, &list));
    for (size_t i = 0; i < list->size(); ++i) {
      FS_RETURN_IF_ERROR(ReadPostProcessor(
          ctx, (*list)[i], fmt::format("{}.processors[{}]", field, i), depth + 1, spec));
    }
  } else if (type == "TemplateProcessing") {
    const json* single = nullptr;
    FS_RETURN_IF_ERROR(ctx.Array(j, "single", field + ".single", true, &single));
    const auto n = static_cast<int32_t>(spec->tokens.size());
    for (size_t i = 0; i < single->size(); ++i) {
      const json& item = (*single)[i];
      const json* special = ctx.Get(item, "SpecialToken");
      if (special == nullptr) {
        if (ctx.Get(item, "Sequence") == nullptr) {
          return ctx.Error(fmt::format("{}.single[{}]", field, i),
                           "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
        continue;
      }
      std::string name;
      FS_RETURN_IF_ERROR(ctx.String(
          *special, "id", fmt::format("{}.single[{}].SpecialToken.id", field, i), true, &name));
      int32_t id = -1;
      FS_RETURN_IF_ERROR(TemplateTokenId(ctx, j, field, name, n, &id));
      if (i == 0) {
        spec->add_bos = true;
        spec->bos_id = id;
      } else if (i + 1 == single->size()) {
        spec->add_eos = true;
        spec->eos_id = id;
      } else {
        return ctx.Error(fmt::format("{}.single[{}]", field, i),
                         "special tokens are supported only first or last");
      }
    }
  } else if (type != "ByteLevel") {
    return UnknownType(ctx, field, type, "TemplateProcessing, ByteLevel, Sequence");
  }
  return Status::Ok();
}

}  // namespace

Status ReadPipeline(const Ctx& ctx, const json& root, TokenizerSpec* spec) {
  if (const json* j = ctx.Get(root, "normalizer")) {
    FS_RETURN_IF_ERROR(ReadNormalizer(ctx, *j, "normalizer", 0, spec));
  }
  PreState state;
  if (const json* j = ctx.Get(root, "pre_tokenizer")) {
    FS_RETURN_IF_ERROR(ReadPre(ctx, *j, "pre_tokenizer", 0, spec, &state));
  }
  spec->byte_level = state.byte_level;
  if (spec->byte_level && spec->byte_fallback) {
    return ctx.Error("model.byte_fallback",
                     "true together with a ByteLevel pre-tokenizer is not supported");
  }
  bool strip_prefix = false;
  if (const json* j = ctx.Get(root, "decoder")) {
    FS_RETURN_IF_ERROR(ReadDecoder(ctx, *j, "decoder", 0, &strip_prefix));
  }
  spec->add_space_prefix = !spec->byte_level && strip_prefix;
  if (const json* j = ctx.Get(root, "post_processor")) {
    FS_RETURN_IF_ERROR(ReadPostProcessor(ctx, *j, "post_processor", 0, spec));
  }
  return Status::Ok();
}

}  // namespace flashstream::hf_json
