// Regex pre-tokenizers of BPE models: split text into pieces that BPE then encodes
// independently. A pre-tokenizer is a list of PCRE2 patterns (UTF-8 + Unicode properties, JIT
// when available) applied in turn: each pattern splits every current piece into its matches
// and the unmatched gaps between them (a match may instead be glued to the gap before or after
// it, or dropped: tokenizer.json's Split behaviours); without dropped matches, pieces always
// concatenate back to the input.
// Input may hold invalid UTF-8: invalid bytes never match a pattern and end up in gap pieces.
// Immutable after Create; thread-safe for concurrent Split calls. Move-only (owns PCRE2 code).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/model_index.h"  // TokenizerSpec::PreSplit

namespace flashstream {

class PreTokenizer {
 public:
  // `name` is GGUF's tokenizer.ggml.pre ("smollm", "llama-bpe", "qwen2", "gpt2", ...);
  // "" and "default" mean GPT-2's pattern. Unknown names are an error listing the known ones.
  static Result<PreTokenizer> Create(std::string_view name);
  // tokenizer.json's Split steps, in order (none: Split returns the text as one piece).
  // Errors name the step whose regex does not compile.
  static Result<PreTokenizer> FromSplits(const std::vector<TokenizerSpec::PreSplit>& splits);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Appends the pieces of `text` (views into it, none empty) to `pieces`.
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

  // Names accepted by Create, comma-separated (for messages and docs).
  static std::string KnownNames();

 private:
  struct Pattern;
  PreTokenizer() = default;
  Status AddPattern(std::string_view source, TokenizerSpec::PreSplit::Behavior behavior,
                    std::string_view what);
  std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace flashstream
