// Jinja2 lexer (see jinja_lexer.h). Mirrors the whitespace rules of jinja2's lexer with
// trim_blocks=True and lstrip_blocks=True, which is how transformers renders chat templates.
#include "tokenizer/jinja_lexer.h"

#include <fmt/format.h>  // fmt::format for error messages

#include <algorithm>  // std::upper_bound
#include <cerrno>     // errno for strtod range checks
#include <cstdlib>    // std::strtod
#include <tuple>      // std::tie
#include <utility>    // std::pair

#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Non-ASCII code points that may appear in identifiers (jinja2 accepts Python's Unicode
// identifiers). Approximation: letters and marks, i.e. not spaces, not punctuation blocks.
bool IsUnicodeNameCp(uint32_t cp) {
  if (cp < 0xAA || IsPySpace(cp) || cp == 0xD7 || cp == 0xF7) return false;
  if ((cp >= 0xAB && cp <= 0xBF && cp != 0xB5 && cp != 0xBA) || (cp >= 0x2000 && cp <= 0x2BFF)) return false;
  if ((cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xDC80 && cp <= 0xDCFF)) return false;
  return cp < 0x1F000;  // no emoji and symbols
}

// Normalizes "\r\n" and "\r" to "\n" and drops one trailing newline, as jinja2 does.
std::string NormalizeSource(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Length of the run of Python whitespace starting at `pos`.
size_t SpaceRun(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    size_t next = i;
    if (!IsPySpace(NextCodePoint(s, &next))) break;
    i = next;
  }
  return i - pos;
}

bool AllSpace(std::string_view s) { return SpaceRun(s, 0) == s.size(); }

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(NormalizeSource(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Result<std::vector<Token>> Run() {
    while (pos_ < src_.size()) FS_RETURN_IF_ERROR(LexRoot());
    Push(Tok::kEof, src_.size());
    return std::move(tokens_);
  }

 private:
  enum class TagKind { kVar, kBlock, kComment };

  // 1-based line and column of byte offset `at`.
  std::pair<uint32_t, uint32_t> LineCol(size_t at) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<uint32_t>(line), static_cast<uint32_t>(at - line_starts_[line - 1] + 1)};
  }

  Token& Push(Tok type, size_t at) {
    Token t;
    t.type = type;
    std::tie(t.line, t.col) = LineCol(at);
    tokens_.push_back(std::move(t));
    return tokens_.back();
  }

  Status Fail(size_t at, const std::string& msg) const {
    const auto [line, col] = LineCol(at);
    return Errorf("line {}:{}: {}", line, col, msg);
  }

  // Does `<spaces>word<spaces>[-+]%}` start at `at` (just after "{%" and its sign)? Sets
  // *tag_end past "%}" and *end_sign to the sign before it (0 if none).
  bool MatchKeywordTag(size_t at, std::string_view word, size_t* tag_end, char* end_sign) {
    size_t i = at + SpaceRun(src_, at);
    if (src_.compare(i, word.size(), word) != 0) return false;
    i += word.size();
    if (i < src_.size() && IsNameChar(src_[i])) return false;
    i += SpaceRun(src_, i);
    *end_sign = 0;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) {
      *end_sign = src_[i];
      ++i;
    }
    if (src_.compare(i, 2, "%}") != 0) return false;
    *tag_end = i + 2;
    return true;
  }

  // Applies `-` (strip all trailing whitespace) or lstrip_blocks to the text before a tag.
  std::string_view StripBefore(std::string_view text, char sign, bool lstrip_applies) {
    if (sign == '-') {
      size_t end = text.size();
      const std::vector<size_t> offsets = CodePointOffsets(text);
      for (size_t k = offsets.size() - 1; k > 0; --k) {
        size_t at = offsets[k - 1];
        if (!IsPySpace(NextCodePoint(text, &at))) break;
        end = offsets[k - 1];
      }
      return text.substr(0, end);
    }
    if (sign != '+' && lstrip_applies) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() && AllSpace(text.substr(l_pos))) {
        return text.substr(0, l_pos);
      }
    }
    return text;
  }

  void EmitData(std::string_view text, size_t at) {
    if (!text.empty()) Push(Tok::kData, at).text = std::string(text);
  }

  Status LexRoot() {
    const size_t start = pos_;
    size_t open = src_.size();
    for (size_t i = src_.find('{', start); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        open = i;
        break;
      }
    }
    if (open == src_.size()) {
      EmitData(std::string_view(src_).substr(start), start);
      pos_ = src_.size();
      return Status::Ok();
    }
    const char kind_char = src_[open + 1];
    size_t after = open + 2;
    char sign = 0;
    if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
    const std::string_view text = std::string_view(src_).substr(start, open - start);
    size_t raw_end = 0;
    char raw_sign = 0;
    if (kind_char == '%' && MatchKeywordTag(after, "raw", &raw_end, &raw_sign) && raw_sign != '+') {
      EmitData(StripBefore(text, sign, true), start);
      if (raw_sign == '-') raw_end += SpaceRun(src_, raw_end);
      line_starting_ = src_[raw_end - 1] == '\n';
      return LexRaw(open, raw_end);
    }
    const TagKind kind = kind_char == '{' ? TagKind::kVar : (kind_char == '%' ? TagKind::kBlock : TagKind::kComment);
    EmitData(StripBefore(text, sign, kind != TagKind::kVar), start);
    line_starting_ = false;
    if (kind == TagKind::kComment) return LexComment(open, after);
    Push(kind == TagKind::kVar ? Tok::kVarBegin : Tok::kBlockBegin, open);
    pos_ = after;
    return LexTag(kind, open);
  }

  Status LexRaw(size_t open, size_t body_start) {
    for (size_t i = src_.find("{%", body_start); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t after = i + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      size_t end = 0;
      char end_sign = 0;
      if (!MatchKeywordTag(after, "endraw", &end, &end_sign)) continue;
      const std::string_view body = std::string_view(src_).substr(body_start, i - body_start);
      EmitData(StripBefore(body, sign, true), body_start);
      if (end_sign == '-') {
        end += SpaceRun(src_, end);
      } else if (end_sign == 0 && end < src_.size() && src_[end] == '\n') {
        ++end;
      }
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return Status::Ok();
    }
    return Fail(open, "missing '{% endraw %}' for this '{% raw %}'");
  }

  Status LexComment(size_t open, size_t body_start) {
    const size_t close = src_.find("#}", body_start);
    if (close == std::string::npos) {
      // jinja2 quietly accepts "{#" as the very last thing in a template.
      if (body_start >= src_.size()) {
        pos_ = src_.size();
        return Status::Ok();
      }
      return Fail(open, "missing '#}' to close this comment");
    }
    const char sign = close > body_start ? src_[close - 1] : 0;
    size_t end = close + 2;
    if (sign == '-') {
      end += SpaceRun(src_, end);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
    return Status::Ok();
  }

  // Matches the end of the current tag at pos_; returns its length (0 = no match).
  size_t MatchTagEnd(TagKind kind) {
    const char* close = kind == TagKind::kVar ? "}}" : "%}";
    size_t i = pos_;
    char sign = 0;
    if (src_[i] == '-' || (src_[i] == '+' && kind == TagKind::kBlock)) sign = src_[i++];
    if (src_.compare(i, 2, close) != 0) return 0;
    i += 2;
    if (sign == '-') {
      i += SpaceRun(src_, i);
    } else if (sign == 0 && kind == TagKind::kBlock && i < src_.size() && src_[i] == '\n') {
      ++i;
    }
    return i - pos_;
  }

  Status LexTag(TagKind kind, size_t open) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        return Fail(open, fmt::format("missing '{}' to close this tag", kind == TagKind::kVar ? "}}" : "%}"));
      }
      if (balance.empty()) {
        if (const size_t n = MatchTagEnd(kind); n > 0) {
          Push(kind == TagKind::kVar ? Tok::kVarEnd : Tok::kBlockEnd, pos_);
          pos_ += n;
          line_starting_ = src_[pos_ - 1] == '\n';
          return Status::Ok();
        }
      }
      if (const size_t n = SpaceRun(src_, pos_); n > 0) {
        pos_ += n;
        continue;
      }
      FS_RETURN_IF_ERROR(LexOne(&balance));
    }
  }

  Status LexOne(std::vector<char>* balance) {
    const char c = src_[pos_];
    if (IsDigit(c)) return LexNumber();
    if (IsNameStart(c) || static_cast<unsigned char>(c) >= 0x80) {
      size_t end = pos_;
      while (end < src_.size()) {
        if (IsNameChar(src_[end])) {
          ++end;
          continue;
        }
        size_t next = end;
        if (static_cast<unsigned char>(src_[end]) < 0x80 || !IsUnicodeNameCp(NextCodePoint(src_, &next))) break;
        end = next;
      }
      if (end == pos_) {
        size_t next = pos_;
        std::string ch;
        AppendUtf8(NextCodePoint(src_, &next), &ch);
        return Fail(pos_, fmt::format("unexpected character '{}' inside a tag", ch));
      }
      Push(Tok::kName, pos_).text = src_.substr(pos_, end - pos_);
      pos_ = end;
      return Status::Ok();
    }
    if (c == '\'' || c == '"') return LexString();
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        Push(Tok::kOp, pos_).text = std::string(op);
        pos_ += 2;
        return Status::Ok();
      }
    }
    static constexpr std::string_view kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      size_t next = pos_;
      std::string ch;
      AppendUtf8(NextCodePoint(src_, &next), &ch);
      return Fail(pos_, fmt::format("unexpected character '{}' inside a tag", ch));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance->push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance->empty()) return Fail(pos_, fmt::format("unexpected '{}'", c));
      if (balance->back() != c) return Fail(pos_, fmt::format("unexpected '{}', expected '{}'", c, balance->back()));
      balance->pop_back();
    }
    Push(Tok::kOp, pos_).text = std::string(1, c);
    ++pos_;
    return Status::Ok();
  }

  // Digits with optional single underscores between them; returns the end offset.
  size_t ScanDigits(size_t i, bool (*is_digit)(char)) {
    if (i >= src_.size() || !is_digit(src_[i])) return i;
    ++i;
    while (i < src_.size()) {
      if (is_digit(src_[i])) {
        ++i;
      } else if (src_[i] == '_' && i + 1 < src_.size() && is_digit(src_[i + 1])) {
        i += 2;
      } else {
        break;
      }
    }
    return i;
  }

  Status LexNumber() {
    const size_t start = pos_;
    auto strip = [&](size_t a, size_t b) {
      std::string s;
      for (size_t i = a; i < b; ++i) {
        if (src_[i] != '_') s.push_back(src_[i]);
      }
      return s;
    };
    // Float: digits then a fraction and/or an exponent (never right after a '.').
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    size_t i = ScanDigits(start, IsDigit);
    size_t frac_end = i;
    if (i + 1 < src_.size() && src_[i] == '.' && IsDigit(src_[i + 1])) frac_end = ScanDigits(i + 1, IsDigit);
    size_t exp_end = frac_end;
    if (frac_end < src_.size() && (src_[frac_end] == 'e' || src_[frac_end] == 'E')) {
      size_t j = frac_end + 1;
      if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
      if (j < src_.size() && IsDigit(src_[j])) exp_end = ScanDigits(j, IsDigit);
    }
    if (!after_dot && exp_end > i) {
      const std::string text = strip(start, exp_end);
      errno = 0;
      Push(Tok::kFloat, start).fval = std::strtod(text.c_str(), nullptr);
      pos_ = exp_end;
      return Status::Ok();
    }
    // Integer: 0b/0o/0x prefixes, a decimal without leading zeros, or zeros.
    int base = 10;
    size_t digits_at = start;
    if (src_[start] == '0' && start + 1 < src_.size()) {
      const char p = static_cast<char>(src_[start + 1] | 0x20);
      base = p == 'b' ? 2 : (p == 'o' ? 8 : (p == 'x' ? 16 : 10));
      if (base != 10) digits_at = start + 2;
    }
    size_t end = 0;
    if (base == 10) {
      end = src_[start] == '0' ? ScanDigits(start, [](char ch) { return ch == '0'; }) : ScanDigits(start, IsDigit);
    } else {
      bool (*is_digit)(char) = base == 2   ? [](char ch) { return ch == '0' || ch == '1'; }
                               : base == 8 ? [](char ch) { return ch >= '0' && ch <= '7'; }
                                           : [](char ch) {
                                               const char l = static_cast<char>(ch | 0x20);
                                               return IsDigit(ch) || (l >= 'a' && l <= 'f');
                                             };
      // A single '_' may follow the prefix.
      size_t d = digits_at < src_.size() && src_[digits_at] == '_' ? digits_at + 1 : digits_at;
      end = ScanDigits(d, is_digit);
      if (end == d) return Fail(start, "invalid integer literal");
    }
    const std::string text = strip(digits_at, end);
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      return Fail(start, "integer literal does not fit in 64 bits");
    }
    Push(Tok::kInt, start).ival = static_cast<int64_t>(v);
    pos_ = end;
    return Status::Ok();
  }

  static int HexVal(char c) {
    if (IsDigit(c)) return c - '0';
    const char l = static_cast<char>(c | 0x20);
    return (l >= 'a' && l <= 'f') ? l - 'a' + 10 : -1;
  }

  Status LexString() {
    const size_t start = pos_;
    const char quote = src_[start];
    std::string value;
    size_t i = start + 1;
    while (true) {
      if (i >= src_.size()) return Fail(start, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return Fail(start, "unterminated string literal");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
          value.push_back('\\');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = i + k < src_.size() ? HexVal(src_[i + k]) : -1;
            if (h < 0) return Fail(i - 2, fmt::format("truncated \\{} escape in string literal", e));
            cp = cp * 16 + static_cast<uint32_t>(h);
          }
          if (cp > 0x10FFFF) return Fail(i - 2, "escape sequence is not a valid code point");
          i += static_cast<size_t>(n);
          AppendUtf8(cp, &value);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            }
            AppendUtf8(cp, &value);
          } else {
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    Push(Tok::kString, start).text = std::move(value);
    pos_ = i + 1;
    return Status::Ok();
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view source) { return Lexer(source).Run(); }

}  // namespace flashstream::jinja
