// Regex pre-tokenizers of byte-level BPE models: split text into pieces that BPE then encodes
// independently. A pre-tokenizer is a list of PCRE2 patterns (UTF-8 + Unicode properties, JIT
// when available) applied in turn: each pattern splits every current piece into its matches
// and the unmatched gaps between them, so pieces always concatenate back to the input.
// Input may hold invalid UTF-8: invalid bytes never match a pattern and end up in gap pieces.
// Immutable after Create; thread-safe for concurrent Split calls. Move-only (owns PCRE2 code).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flashstream {

class PreTokenizer {
 public:
  // `name` is GGUF's tokenizer.ggml.pre ("smollm", "llama-bpe", "qwen2", "gpt2", ...);
  // "" and "default" mean GPT-2's pattern. Unknown names are an error listing the known ones.
  static Result<PreTokenizer> Create(std::string_view name);

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
  std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace flashstream
