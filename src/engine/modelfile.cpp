#include "engine/modelfile.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/option_table.h"
#include "tokenizer/chat_template.h"  // TEMPLATE is checked by parsing it
#include "tokenizer/utf8.h"           // IsValidUtf8 / Utf8CharLen

namespace flashstream {
namespace {

// The PARAMETER names a Modelfile accepts (Ollama's, where flashstream implements them).
constexpr std::array<std::string_view, 13> kParameters = {
    "temperature", "top_k", "top_p", "min_p",      "repeat_penalty", "repeat_last_n", "num_ctx",
    "num_predict", "stop",  "seed",  "num_thread", "lookup",         "draft_max"};

// flashstream directive -> named option.
constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kDirectives = {{{"RAM", "ram"},
                                                                                       {"VRAM", "vram"},
                                                                                       {"KV_QUANT", "kv_quant"},
                                                                                       {"KV_WINDOW", "kv_window"},
                                                                                       {"DEVICE", "device"},
                                                                                       {"PREFETCH", "prefetch"},
                                                                                       {"DRAFT_MODEL", "draft_model"},
                                                                                       {"SELF_DRAFT", "self_draft"}}};

constexpr std::string_view kKnown =
    "FROM, PARAMETER, SYSTEM, TEMPLATE, MESSAGE, LICENSE, RAM, VRAM, KV_QUANT, KV_WINDOW, DEVICE, PREFETCH, "
    "DRAFT_MODEL, SELF_DRAFT";

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// A cursor over the Modelfile text that knows its line.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}
  bool at_end() const { return pos_ >= s_.size(); }
  int line() const { return line_; }
  char peek() const { return at_end() ? '\n' : s_[pos_]; }
  void SkipBlanks() {
    while (!at_end() && IsBlank(s_[pos_])) ++pos_;
  }
  // Skips to just past the end of the current line.
  void SkipLine() {
    while (!at_end() && s_[pos_] != '\n') ++pos_;
    Newline();
  }
  void Newline() {
    if (!at_end()) {
      ++pos_;
      ++line_;
    }
  }
  // A run of non-blank characters (a directive, a parameter name, a role).
  std::string_view Word() {
    const size_t begin = pos_;
    while (!at_end() && !IsBlank(s_[pos_]) && s_[pos_] != '\n') ++pos_;
    return s_.substr(begin, pos_ - begin);
  }
  // The value at the cursor: """block""", "string" or the rest of the line. Leaves the cursor
  // at the start of the next line.
  Status Value(std::string* out) {
    const int start_line = line_;
    if (s_.substr(pos_, 3) == "\"\"\"") {
      const size_t close = s_.find("\"\"\"", pos_ + 3);
      if (close == std::string_view::npos) return Errorf("{}: unterminated \"\"\" (no closing \"\"\")", start_line);
      *out = std::string(s_.substr(pos_ + 3, close - pos_ - 3));
      line_ += static_cast<int>(std::count(out->begin(), out->end(), '\n'));
      pos_ = close + 3;
      return EndOfLine();
    }
    if (peek() == '"') {
      out->clear();
      for (++pos_;; ++pos_) {
        if (at_end() || s_[pos_] == '\n') return Errorf("{}: unterminated \" (no closing quote on the line)", line_);
        const char c = s_[pos_];
        if (c == '"') break;
        if (c == '\\' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == '"' || s_[pos_ + 1] == '\\')) ++pos_;
        out->push_back(s_[pos_]);
      }
      ++pos_;
      return EndOfLine();
    }
    const size_t begin = pos_;
    while (!at_end() && s_[pos_] != '\n') ++pos_;
    size_t end = pos_;
    while (end > begin && IsBlank(s_[end - 1])) --end;
    *out = std::string(s_.substr(begin, end - begin));
    Newline();
    return Status::Ok();
  }

 private:
  Status EndOfLine() {
    SkipBlanks();
    if (!at_end() && s_[pos_] != '\n') {
      return Errorf("{}: unexpected text after the closing quote: '{}'", line_, Word());
    }
    Newline();
    return Status::Ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
};

std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

// Line of the first byte that is not well-formed UTF-8, or of the first NUL; 0 when none.
int FirstBadLine(std::string_view text) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8CharLen(text, i);
    if (n == 0 || text[i] == '\0') return line;
    if (text[i] == '\n') ++line;
    i += n;
  }
  return 0;
}

// One directive whose name and value were read; `line` is where it starts.
Status Apply(const std::string& directive, std::string_view arg, const std::string& value, int line,
             ModelfileOptions* out, int* from_line) {
  const OptionTarget target{&out->engine, &out->generate, &out->seed_given};
  if (directive == "FROM") {
    if (*from_line > 0) return Errorf("FROM given twice (first on line {})", *from_line);
    *from_line = line;
    return SetOption("model", value, target);
  }
  if (directive == "PARAMETER") {
    if (std::find(kParameters.begin(), kParameters.end(), arg) == kParameters.end()) {
      return Errorf(
          "unknown PARAMETER '{}' (expected one of temperature, top_k, top_p, min_p, repeat_penalty, "
          "repeat_last_n, num_ctx, num_predict, stop, seed, num_thread, lookup, draft_max)",
          arg);
    }
    return SetOption(arg, value, target);
  }
  if (directive == "SYSTEM") {
    out->chat.system = value;
    return Status::Ok();
  }
  if (directive == "TEMPLATE") {
    Result<ChatTemplate> parsed = ChatTemplate::Parse(value);
    if (!parsed.ok()) {
      const bool go = value.find("{{ .") != std::string::npos || value.find("{{.") != std::string::npos;
      return Errorf("TEMPLATE: {}{}", parsed.status().message(),
                    go ? " (this looks like an Ollama Go template; flashstream takes a Jinja chat template)" : "");
    }
    out->engine.chat_template = value;
    return Status::Ok();
  }
  if (directive == "MESSAGE") {
    if (arg != "system" && arg != "user" && arg != "assistant") {
      return Errorf("MESSAGE role must be system, user or assistant, got '{}'", arg);
    }
    out->chat.messages.push_back({std::string(arg), value});
    return Status::Ok();
  }
  if (directive == "LICENSE") {
    if (!out->license.empty()) out->license += "\n";
    out->license += value;
    return Status::Ok();
  }
  if (directive == "ADAPTER") return Errorf("ADAPTER: LoRA adapters are not supported");
  for (const auto& [name, option] : kDirectives) {
    if (directive == name) return SetOption(option, value, target);
  }
  return Errorf("unknown directive '{}' (expected {})", directive, kKnown);
}

}  // namespace

Status ParseModelfile(std::string_view text, std::string_view file_name, ModelfileOptions* out) {
  if (const int bad = FirstBadLine(text); bad > 0) {
    return Errorf("{}:{}: not valid UTF-8 text (or holds a NUL byte)", file_name, bad);
  }
  Lexer lex(text);
  int from_line = 0;
  while (!lex.at_end()) {
    lex.SkipBlanks();
    if (lex.peek() == '\n') {
      lex.Newline();
      continue;
    }
    if (lex.peek() == '#') {
      lex.SkipLine();
      continue;
    }
    const int line = lex.line();
    const std::string directive = Upper(lex.Word());
    lex.SkipBlanks();
    std::string_view arg;  // PARAMETER's name or MESSAGE's role
    if (directive == "PARAMETER" || directive == "MESSAGE") {
      arg = lex.Word();
      if (arg.empty())
        return Errorf("{}:{}: {} needs a {} and a value", file_name, line, directive,
                      directive == "PARAMETER" ? "name" : "role");
      lex.SkipBlanks();
    }
    if (lex.peek() == '\n' && directive != "SYSTEM") {
      return Errorf("{}:{}: {}{}{} needs a value", file_name, line, directive, arg.empty() ? "" : " ", arg);
    }
    std::string value;
    Status s = lex.Value(&value);
    if (!s.ok()) return Errorf("{}:{}", file_name, s.message());
    s = Apply(directive, arg, value, line, out, &from_line);
    if (!s.ok()) return Errorf("{}:{}: {}", file_name, line, s.message());
  }
  if (from_line == 0) return Errorf("{}: no FROM line (FROM names the model)", file_name);
  return Status::Ok();
}

Status LoadModelfile(const std::string& path, ModelfileOptions* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Errorf("{}: cannot read the Modelfile", path);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Errorf("{}: read failed", path);
  FS_RETURN_IF_ERROR(ParseModelfile(text, path, out));
  namespace fs = std::filesystem;
  const fs::path from(out->engine.model_path);
  if (from.is_relative()) {
    const fs::path beside = fs::path(path).parent_path() / from;
    std::error_code ec;
    if (fs::exists(beside, ec)) out->engine.model_path = beside.lexically_normal().string();
  }
  return Status::Ok();
}

}  // namespace flashstream
