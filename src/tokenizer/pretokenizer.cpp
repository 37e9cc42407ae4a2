#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>  // regex compile/match with Unicode properties and JIT

#include <array>

namespace flashstream {
namespace {

// GPT-2's split: contractions, optional space + letters / numbers / other symbols, whitespace
// runs (a run before non-space leaves its last space to the next piece).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3: case-insensitive contractions, one optional non-letter prefix before letters,
// numbers in groups of up to three, newlines kept together.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but every number code point on its own.
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Isolates each number code point (Hugging Face's Digits(individual_digits=True)).
constexpr const char* kEachDigit = R"(\p{N})";

struct PreTokenizerDef {
  std::string_view name;
  std::array<const char*, 2> patterns;  // applied in order; nullptr = unused slot
};

// One line per supported tokenizer.ggml.pre value.
constexpr PreTokenizerDef kDefs[] = {
    {"", {kGpt2, nullptr}},
    {"default", {kGpt2, nullptr}},
    {"gpt2", {kGpt2, nullptr}},
    {"smollm", {kEachDigit, kGpt2}},
    {"llama-bpe", {kLlama3, nullptr}},
    {"llama3", {kLlama3, nullptr}},
    {"qwen2", {kQwen2, nullptr}},
};

}  // namespace

struct PreTokenizer::Pattern {
  pcre2_code* code = nullptr;
  ~Pattern() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::string PreTokenizer::KnownNames() {
  std::string names;
  for (const PreTokenizerDef& def : kDefs) {
    if (def.name.empty()) continue;
    if (!names.empty()) names += ", ";
    names += def.name;
  }
  return names;
}

Result<PreTokenizer> PreTokenizer::Create(std::string_view name) {
  const PreTokenizerDef* def = nullptr;
  for (const PreTokenizerDef& d : kDefs) {
    if (d.name == name) def = &d;
  }
  if (def == nullptr) {
    return Errorf("tokenizer.ggml.pre '{}' is not supported (known: {})", name, KnownNames());
  }
  PreTokenizer pre;
  for (const char* source : def->patterns) {
    if (source == nullptr) continue;
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto pattern = std::make_unique<Pattern>();
    pattern->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
    if (pattern->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return Errorf("pre-tokenizer '{}': pattern does not compile at {}: {}", name, offset,
                    reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(pattern->code, PCRE2_JIT_COMPLETE);  // interpreter fallback when absent
    pre.patterns_.push_back(std::move(pattern));
  }
  return pre;
}

namespace {

// Splits `text` into matches of `code` and the gaps between them; appends to `out`.
void SplitOne(const pcre2_code* code, pcre2_match_data* match, std::string_view text,
              std::vector<std::string_view>* out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;      // where the next match attempt starts
  size_t emitted = 0;  // end of the last piece appended
  while (pos < text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, 0, match, nullptr);
    if (rc < 0) break;  // no further match (or a matching error): the rest is one gap
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t start = ovector[0], end = ovector[1];
    if (end == start) {  // the patterns never match empty, but never loop on it either
      pos = start + 1;
      continue;
    }
    if (start > emitted) out->push_back(text.substr(emitted, start - emitted));
    out->push_back(text.substr(start, end - start));
    emitted = pos = end;
  }
  if (emitted < text.size()) out->push_back(text.substr(emitted));
}

}  // namespace

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  for (const auto& pattern : patterns_) {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(pattern->code, nullptr);
    next.clear();
    for (std::string_view piece : current) SplitOne(pattern->code, match, piece, &next);
    pcre2_match_data_free(match);
    current.swap(next);
  }
  pieces->insert(pieces->end(), current.begin(), current.end());
}

}  // namespace flashstream
