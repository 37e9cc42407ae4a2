// Lexer for the Jinja2 subset used by chat templates. Applies Jinja's source rules as
// transformers configures them: newlines normalized to "\n", one trailing newline dropped
// (keep_trailing_newline=False), trim_blocks and lstrip_blocks on, `-`/`+` whitespace control
// on every tag, comments dropped, `{% raw %}` bodies kept verbatim.
// Stateless function; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flashstream::jinja {

enum class Tok : uint8_t {
  kData,        // literal template text (text = the data)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword
  kString,      // string literal (text = unescaped value)
  kInt,         // integer literal (ival)
  kFloat,       // float literal (fval)
  kOp,          // operator (text = "+", "//", "==", "(", ...)
  kEof,
};

struct Token {
  Tok type = Tok::kEof;
  std::string text;
  int64_t ival = 0;
  double fval = 0.0;
  uint32_t line = 1;  // 1-based position of the token's first character
  uint32_t col = 1;
};

// Tokenizes `source`. Errors are one line: "line L:C: <what was expected>".
Result<std::vector<Token>> Lex(std::string_view source);

}  // namespace flashstream::jinja
