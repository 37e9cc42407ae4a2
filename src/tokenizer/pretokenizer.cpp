#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>  // error messages
#include <pcre2.h>       // regex compile/match with Unicode properties and JIT

#include <array>

#include "formats/pre_patterns.h"  // the named patterns

namespace flashstream {

struct PreTokenizer::Pattern {
  pcre2_code* code = nullptr;
  TokenizerSpec::PreSplit::Behavior behavior = TokenizerSpec::PreSplit::Behavior::kIsolated;
  ~Pattern() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::string PreTokenizer::KnownNames() {
  std::string names;
  for (const pre_patterns::Named& def : pre_patterns::kNamed) {
    if (def.name.empty()) continue;
    if (!names.empty()) names += ", ";
    names += def.name;
  }
  return names;
}

Status PreTokenizer::AddPattern(std::string_view source, TokenizerSpec::PreSplit::Behavior behavior,
                                std::string_view what) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto pattern = std::make_unique<Pattern>();
  pattern->behavior = behavior;
  pattern->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (pattern->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return Errorf("{}: pattern does not compile at {}: {}", what, offset,
                  reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(pattern->code, PCRE2_JIT_COMPLETE);  // interpreter fallback when absent
  patterns_.push_back(std::move(pattern));
  return Status::Ok();
}

Result<PreTokenizer> PreTokenizer::Create(std::string_view name) {
  const pre_patterns::Named* def = pre_patterns::Find(name);
  if (def == nullptr) {
    return Errorf("tokenizer.ggml.pre '{}' is not supported (known: {})", name, KnownNames());
  }
  PreTokenizer pre;
  for (const char* source : def->patterns) {
    if (source == nullptr) continue;
    FS_RETURN_IF_ERROR(pre.AddPattern(source, TokenizerSpec::PreSplit::Behavior::kIsolated,
                                      fmt::format("pre-tokenizer '{}'", name)));
  }
  return pre;
}

Result<PreTokenizer> PreTokenizer::FromSplits(const std::vector<TokenizerSpec::PreSplit>& splits) {
  PreTokenizer pre;
  for (size_t i = 0; i < splits.size(); ++i) {
    FS_RETURN_IF_ERROR(
        pre.AddPattern(splits[i].regex, splits[i].behavior,
                       fmt::format("pre-tokenizer split {} '{}'", i, splits[i].regex)));
  }
  return pre;
}

namespace {

using Behavior = TokenizerSpec::PreSplit::Behavior;

// Splits `text` into matches of `code` and the gaps between them; appends to `out` by
// `behavior` (a glued match joins the gap before or after it; consecutive matches stay apart).
void SplitOne(const pcre2_code* code, Behavior behavior, pcre2_match_data* match,
              std::string_view text, std::vector<std::string_view>* out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;      // where the next match attempt starts
  size_t emitted = 0;  // end of the last piece appended (or dropped)
  while (pos < text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, 0, match, nullptr);
    if (rc < 0) break;  // no further match (or a matching error): the rest is one gap
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t start = ovector[0], end = ovector[1];
    if (end <= start) {  // never loop on an empty match
      pos = start + 1;
      continue;
    }
    switch (behavior) {
      case Behavior::kIsolated:
        if (start > emitted) out->push_back(text.substr(emitted, start - emitted));
        out->push_back(text.substr(start, end - start));
        emitted = end;
        break;
      case Behavior::kRemoved:
        if (start > emitted) out->push_back(text.substr(emitted, start - emitted));
        emitted = end;
        break;
      case Behavior::kMergedWithPrevious:
        out->push_back(text.substr(emitted, end - emitted));
        emitted = end;
        break;
      case Behavior::kMergedWithNext:
        if (start > emitted) out->push_back(text.substr(emitted, start - emitted));
        emitted = start;  // the match opens the next piece
        break;
    }
    pos = end;
  }
  if (emitted < text.size()) out->push_back(text.substr(emitted));
}

}  // namespace

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  if (patterns_.empty()) {
    pieces->push_back(text);
    return;
  }
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  for (const auto& pattern : patterns_) {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(pattern->code, nullptr);
    next.clear();
    for (std::string_view piece : current) {
      SplitOne(pattern->code, pattern->behavior, match, piece, &next);
    }
    pcre2_match_data_free(match);
    current.swap(next);
  }
  pieces->insert(pieces->end(), current.begin(), current.end());
}

}  // namespace flashstream
