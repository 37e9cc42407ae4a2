// ExprParser: the token cursor and expression grammar shared by the chat-template parser
// (jinja_parser.cpp parses statements on top of it). Internal to src/tokenizer; one instance
// parses one template and is then discarded. Not thread-safe.
#pragma once

#include <fmt/format.h>  // fmt::format for error messages

#include <algorithm>  // std::max, std::min
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"

namespace flashstream::jinja {

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  // Expressions separated by commas form a tuple; a single one is returned as is.
  // `extra_end` names words that end the tuple (e.g. "recursive" after a for's iterable).
  Result<ExprPtr> ParseTuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                             bool explicit_parens = false);
  Result<ExprPtr> ParseExpression(bool with_condexpr);
  // `| name(args) | name ...`; with start_inline the first '|' is absent (filter blocks).
  Result<ExprPtr> ParseFilters(ExprPtr node, bool start_inline = false);

 protected:
  struct OpenBlock {
    std::string tag;
    uint32_t line, col;
  };

  // Counts nesting on entry; fails past kMaxParseDepth.
  class Nest {
   public:
    explicit Nest(uint32_t* depth) : depth_(depth) { ++*depth_; }
    ~Nest() { --*depth_; }
    bool too_deep() const { return *depth_ > kMaxParseDepth; }

   private:
    uint32_t* depth_;
  };

  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool IsOp(std::string_view op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(std::string_view n) const { return Cur().type == Tok::kName && Cur().text == n; }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Advance();
    return true;
  }
  bool SkipName(std::string_view n) {
    if (!IsName(n)) return false;
    Advance();
    return true;
  }

  Status FailAt(const Token& t, const std::string& msg) const { return Errorf("line {}:{}: {}", t.line, t.col, msg); }
  Status Unexpected(const std::string& expected) const {
    std::string msg = fmt::format("expected {}, got {}", expected, Describe(Cur()));
    if (Cur().type == Tok::kEof && !open_.empty()) {
      const OpenBlock& b = open_.back();
      msg += fmt::format(" (inside '{}' opened at line {}:{})", b.tag, b.line, b.col);
    }
    return FailAt(Cur(), msg);
  }
  Status ExpectOp(std::string_view op) {
    if (SkipOp(op)) return Status::Ok();
    return Unexpected(fmt::format("'{}'", op));
  }
  Status ExpectType(Tok type, std::string_view what) {
    if (Cur().type != type) return Unexpected(std::string(what));
    Advance();
    return Status::Ok();
  }
  Result<std::string> ExpectNameTok() {
    if (Cur().type != Tok::kName) return Unexpected("a name");
    std::string n = Cur().text;
    Advance();
    return n;
  }

  ExprPtr NewExpr(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->col = at.col;
    return e;
  }
  // Records the subtree height; fails if it exceeds the limit (deep trees would overflow
  // the stack when evaluated or destroyed).
  Result<ExprPtr> Done(ExprPtr e) {
    uint32_t d = 0;
    for (const ExprPtr& a : e->args) {
      if (a) d = std::max(d, a->depth);
    }
    for (const auto& [k, v] : e->kwargs) d = std::max(d, v->depth);
    e->depth = d + 1;
    if (e->depth > kMaxParseDepth) {
      return Errorf("line {}:{}: expression nests deeper than {} levels", e->line, e->col, kMaxParseDepth);
    }
    return e;
  }

  std::string Describe(const Token& t) const;

  std::vector<Token> toks_;
  size_t pos_ = 0;
  uint32_t depth_ = 0;
  bool soft_ = false;  // inside if/conditional: unknown filters and tests fail only when run
  std::vector<OpenBlock> open_;

 private:
  bool IsTupleEnd(std::initializer_list<std::string_view> extra_end) const;
  Result<ExprPtr> Binary(Expr::Kind kind, const Token& at, ExprPtr a, ExprPtr b);
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseArith(int level);
  Result<ExprPtr> ParseMath1();
  Result<ExprPtr> ParseUnary(bool with_filter);
  Result<ExprPtr> ParsePrimary();
  Result<ExprPtr> ParseListOrDict(bool is_dict);
  Result<ExprPtr> ParsePostfix(ExprPtr node);
  Result<ExprPtr> ParseFilterExpr(ExprPtr node);
  Result<ExprPtr> ParseSubscript(ExprPtr node);
  // One subscript: an expression, or a slice `a:b:c`. A slice takes ownership of `node`,
  // stores the finished kSlice in slice_ and returns nullptr.
  Result<ExprPtr> ParseSubscribed(ExprPtr& node);
  Status ParseCallArgs(Expr* e);
  Result<ExprPtr> ParseCall(ExprPtr callee);
  Status ResolveName(Expr* e, bool is_filter);
  Result<ExprPtr> ParseTest(ExprPtr node);

  ExprPtr slice_;  // hand-off from ParseSubscribed
};

}  // namespace flashstream::jinja
