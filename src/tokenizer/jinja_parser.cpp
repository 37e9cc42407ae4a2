// Recursive-descent parser producing the tree in jinja_ast.h. The grammar and operator
// precedence follow jinja2's parser: condexpr < or < and < not < compare < +,- < ~ <
// *,/,//,% < ** < unary -,+ < postfix (.attr, [item], call) < filters and tests.
#include "tokenizer/jinja_parser.h"

#include <fmt/format.h>  // fmt::format for error messages

#include <algorithm>  // std::max

#include "tokenizer/jinja_lexer.h"

namespace flashstream::jinja {
namespace {

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kData: return "template text";
    case Tok::kVarBegin: return "'{{'";
    case Tok::kVarEnd: return "'}}'";
    case Tok::kBlockBegin: return "'{%'";
    case Tok::kBlockEnd: return "'%}'";
    case Tok::kName: return "'" + t.text + "'";
    case Tok::kString: return "a string";
    case Tok::kInt: return "an integer";
    case Tok::kFloat: return "a float";
    case Tok::kOp: return "'" + t.text + "'";
    case Tok::kEof: return "end of template";
  }
  return "token";
}

// Tags that jinja2 knows but chat templates have no use for (they need a loader or HTML).
bool IsUnsupportedTag(const std::string& name) {
  return name == "call" || name == "block" || name == "extends" || name == "include" ||
         name == "import" || name == "from" || name == "autoescape";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Result<Body> ParseAll() {
    FS_ASSIGN_OR_RETURN(Body body, Subparse({}));
    if (Cur().type != Tok::kEof) return Unexpected("a statement");
    return body;
  }

 private:
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

  Status FailAt(const Token& t, const std::string& msg) const {
    return Errorf("line {}:{}: {}", t.line, t.col, msg);
  }
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

  // ---- statements ----

  // Parses nodes until a block tag whose name is in `end_tags` (left as the current token)
  // or the end of the template.
  Result<Body> Subparse(std::initializer_list<std::string_view> end_tags) {
    Body body;
    while (Cur().type != Tok::kEof) {
      const Token& t = Cur();
      if (t.type == Tok::kData) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->line = t.line, n->col = t.col;
        n->text = t.text;
        body.push_back(std::move(n));
        Advance();
      } else if (t.type == Tok::kVarBegin) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = t.line, n->col = t.col;
        Advance();
        FS_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(/*with_condexpr=*/true, {}));
        n->exprs.push_back(std::move(e));
        FS_RETURN_IF_ERROR(ExpectType(Tok::kVarEnd, "'}}'"));
        body.push_back(std::move(n));
      } else if (t.type == Tok::kBlockBegin) {
        Advance();
        for (std::string_view end : end_tags) {
          if (IsName(end)) return body;
        }
        FS_ASSIGN_OR_RETURN(NodePtr n, ParseStatement());
        if (n) body.push_back(std::move(n));
        FS_RETURN_IF_ERROR(ExpectType(Tok::kBlockEnd, "'%}'"));
      } else {
        return Unexpected("template text or a tag");
      }
    }
    if (end_tags.size() > 0) {
      std::string want;
      for (std::string_view e : end_tags) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
      return Unexpected(want);
    }
    return body;
  }

  // Parses `%}`, then a body up to one of `end_tags`; the end tag name is the current token.
  Result<Body> ParseBlockBody(std::initializer_list<std::string_view> end_tags) {
    FS_RETURN_IF_ERROR(ExpectType(Tok::kBlockEnd, "'%}'"));
    return Subparse(end_tags);
  }

  NodePtr NewNode(Node::Kind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->col = at.col;
    return n;
  }

  Result<NodePtr> ParseStatement() {
    const Token tag = Cur();
    if (tag.type != Tok::kName) return Unexpected("a tag name");
    Nest nest(&depth_);
    if (nest.too_deep()) return FailAt(tag, fmt::format("statements nest deeper than {} levels", kMaxParseDepth));
    const std::string& n = tag.text;
    if (n == "if") return WithOpen(tag, [&] { return ParseIf(tag); });
    if (n == "for") return WithOpen(tag, [&] { return ParseFor(tag); });
    if (n == "set") return WithOpen(tag, [&] { return ParseSet(tag); });
    if (n == "macro") return WithOpen(tag, [&] { return ParseMacro(tag); });
    if (n == "filter") return WithOpen(tag, [&] { return ParseFilterBlock(tag); });
    if (n == "with") return WithOpen(tag, [&] { return ParseWith(tag); });
    if (n == "generation") return WithOpen(tag, [&] { return ParseGeneration(tag); });
    if (n == "print") {
      Advance();
      NodePtr node = NewNode(Node::Kind::kOutput, tag);
      FS_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}));
      node->exprs.push_back(std::move(e));
      return node;
    }
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) return FailAt(tag, fmt::format("'{}' outside a for loop", n));
      Advance();
      return NewNode(n == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, tag);
    }
    if (IsUnsupportedTag(n)) return FailAt(tag, fmt::format("tag '{}' is not supported in chat templates", n));
    if (!open_.empty()) {
      const OpenBlock& b = open_.back();
      return FailAt(tag, fmt::format("unexpected tag '{}' inside '{}' opened at line {}:{}", n, b.tag, b.line, b.col));
    }
    return FailAt(tag, fmt::format("unknown tag '{}'", n));
  }

  template <typename F>
  Result<NodePtr> WithOpen(const Token& tag, F parse) {
    open_.push_back({tag.text, tag.line, tag.col});
    Result<NodePtr> r = parse();
    open_.pop_back();
    return r;
  }

  Result<NodePtr> ParseIf(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kIf, tag);
    Advance();
    const bool saved_soft = soft_;
    soft_ = true;
    while (true) {
      FS_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(/*with_condexpr=*/false, {}));
      node->exprs.push_back(std::move(cond));
      FS_ASSIGN_OR_RETURN(Body body, ParseBlockBody({"elif", "else", "endif"}));
      node->bodies.push_back(std::move(body));
      if (SkipName("elif")) continue;
      if (SkipName("else")) {
        FS_ASSIGN_OR_RETURN(Body else_body, ParseBlockBody({"endif"}));
        node->bodies.push_back(std::move(else_body));
      } else {
        node->bodies.emplace_back();
      }
      break;
    }
    soft_ = saved_soft;
    Advance();  // endif
    return node;
  }

  Result<NodePtr> ParseFor(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kFor, tag);
    Advance();
    FS_RETURN_IF_ERROR(ParseTargets(node.get(), /*allow_ns=*/false, "in"));
    if (!SkipName("in")) return Unexpected("'in'");
    FS_ASSIGN_OR_RETURN(ExprPtr iter, ParseTuple(/*with_condexpr=*/false, {"recursive"}));
    node->exprs.push_back(std::move(iter));
    const bool saved_soft = soft_;
    soft_ = false;
    if (SkipName("if")) {
      FS_ASSIGN_OR_RETURN(ExprPtr filter, ParseExpression(true));
      node->exprs.push_back(std::move(filter));
    }
    if (IsName("recursive")) return FailAt(Cur(), "recursive for loops are not supported in chat templates");
    ++loop_depth_;
    Result<Body> body = ParseBlockBody({"endfor", "else"});
    --loop_depth_;
    if (!body.ok()) return body.status();
    node->bodies.push_back(std::move(body).value());
    if (SkipName("else")) {
      FS_ASSIGN_OR_RETURN(Body else_body, ParseBlockBody({"endfor"}));
      node->bodies.push_back(std::move(else_body));
    } else {
      node->bodies.emplace_back();
    }
    soft_ = saved_soft;
    Advance();  // endfor
    return node;
  }

  // Assignment targets: `name`, `a, b`, `(a, b)`, and with allow_ns `ns.attr`.
  Status ParseTargets(Node* node, bool allow_ns, std::string_view end_word) {
    const bool paren = SkipOp("(");
    while (true) {
      AssignTarget t;
      FS_ASSIGN_OR_RETURN(t.name, ExpectNameTok());
      if (allow_ns && SkipOp(".")) {
        FS_ASSIGN_OR_RETURN(t.attr, ExpectNameTok());
      }
      node->targets.push_back(std::move(t));
      if (!SkipOp(",")) break;
      node->unpack = true;
      if ((paren && IsOp(")")) || IsName(end_word) || IsOp("=") || Cur().type == Tok::kBlockEnd) break;
    }
    if (paren) {
      node->unpack = node->unpack || node->targets.size() > 1;
      FS_RETURN_IF_ERROR(ExpectOp(")"));
    }
    return Status::Ok();
  }

  Result<NodePtr> ParseSet(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kSet, tag);
    Advance();
    FS_RETURN_IF_ERROR(ParseTargets(node.get(), /*allow_ns=*/true, ""));
    if (SkipOp("=")) {
      FS_ASSIGN_OR_RETURN(ExprPtr value, ParseTuple(true, {}));
      node->exprs.push_back(std::move(value));
      return node;
    }
    if (node->unpack || node->targets.size() != 1) return Unexpected("'='");
    node->kind = Node::Kind::kSetBlock;
    ExprPtr filter;
    if (IsOp("|")) {
      FS_ASSIGN_OR_RETURN(filter, ParseFilters(nullptr));
    }
    node->exprs.push_back(std::move(filter));
    FS_ASSIGN_OR_RETURN(Body body, ScopedBody({"endset"}));
    node->bodies.push_back(std::move(body));
    Advance();  // endset
    return node;
  }

  // A body parsed in a fresh jinja frame: not "soft" and outside any loop for break/continue.
  Result<Body> ScopedBody(std::initializer_list<std::string_view> end_tags, bool reset_loop = false) {
    const bool saved_soft = soft_;
    const uint32_t saved_loop = loop_depth_;
    soft_ = false;
    if (reset_loop) loop_depth_ = 0;
    Result<Body> body = ParseBlockBody(end_tags);
    soft_ = saved_soft;
    loop_depth_ = saved_loop;
    return body;
  }

  Result<NodePtr> ParseMacro(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kMacro, tag);
    Advance();
    FS_ASSIGN_OR_RETURN(node->text, ExpectNameTok());
    FS_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!node->targets.empty()) FS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
      AssignTarget t;
      FS_ASSIGN_OR_RETURN(t.name, ExpectNameTok());
      ExprPtr def;
      if (SkipOp("=")) {
        FS_ASSIGN_OR_RETURN(def, ParseExpression(true));
      } else if (!node->exprs.empty() && node->exprs.back() != nullptr) {
        return FailAt(Cur(), "non-default macro parameter follows a default one");
      }
      node->targets.push_back(std::move(t));
      node->exprs.push_back(std::move(def));
    }
    Advance();  // )
    FS_ASSIGN_OR_RETURN(Body body, ScopedBody({"endmacro"}, /*reset_loop=*/true));
    node->bodies.push_back(std::move(body));
    Advance();  // endmacro
    return node;
  }

  Result<NodePtr> ParseFilterBlock(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kFilterBlock, tag);
    Advance();
    FS_ASSIGN_OR_RETURN(ExprPtr filter, ParseFilters(nullptr, /*start_inline=*/true));
    node->exprs.push_back(std::move(filter));
    FS_ASSIGN_OR_RETURN(Body body, ScopedBody({"endfilter"}));
    node->bodies.push_back(std::move(body));
    Advance();  // endfilter
    return node;
  }

  Result<NodePtr> ParseWith(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kWith, tag);
    Advance();
    while (Cur().type != Tok::kBlockEnd) {
      if (!node->targets.empty()) FS_RETURN_IF_ERROR(ExpectOp(","));
      AssignTarget t;
      FS_ASSIGN_OR_RETURN(t.name, ExpectNameTok());
      FS_RETURN_IF_ERROR(ExpectOp("="));
      FS_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      node->targets.push_back(std::move(t));
      node->exprs.push_back(std::move(value));
    }
    FS_ASSIGN_OR_RETURN(Body body, ScopedBody({"endwith"}));
    node->bodies.push_back(std::move(body));
    Advance();  // endwith
    return node;
  }

  Result<NodePtr> ParseGeneration(const Token& tag) {
    NodePtr node = NewNode(Node::Kind::kScope, tag);
    Advance();
    FS_ASSIGN_OR_RETURN(Body body, ParseBlockBody({"endgeneration"}));
    node->bodies.push_back(std::move(body));
    Advance();  // endgeneration
    return node;
  }

  // ---- expressions ----

  bool IsTupleEnd(std::initializer_list<std::string_view> extra_end) const {
    if (Cur().type == Tok::kVarEnd || Cur().type == Tok::kBlockEnd || IsOp(")")) return true;
    for (std::string_view e : extra_end) {
      if (IsName(e)) return true;
    }
    return false;
  }

  // Expressions separated by commas form a tuple; a single one is returned as is.
  Result<ExprPtr> ParseTuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                             bool explicit_parens = false) {
    const Token start = Cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) FS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end)) break;
      FS_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(with_condexpr));
      items.push_back(std::move(e));
      if (IsOp(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) return Unexpected("an expression");
    }
    ExprPtr t = NewExpr(Expr::Kind::kTuple, start);
    t->args = std::move(items);
    return Done(std::move(t));
  }

  Result<ExprPtr> ParseExpression(bool with_condexpr) {
    Nest nest(&depth_);
    if (nest.too_deep()) return FailAt(Cur(), fmt::format("expression nests deeper than {} levels", kMaxParseDepth));
    if (!with_condexpr) return ParseOr();
    const bool saved_soft = soft_;
    FS_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (IsName("if")) {
      const Token at = Cur();
      Advance();
      soft_ = true;
      ExprPtr cond_expr = NewExpr(Expr::Kind::kCond, at);
      FS_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr otherwise;
      if (SkipName("else")) {
        FS_ASSIGN_OR_RETURN(otherwise, ParseExpression(true));
      }
      cond_expr->args.push_back(std::move(expr));
      cond_expr->args.push_back(std::move(cond));
      cond_expr->args.push_back(std::move(otherwise));
      FS_ASSIGN_OR_RETURN(expr, Done(std::move(cond_expr)));
    }
    soft_ = saved_soft;
    return expr;
  }

  Result<ExprPtr> Binary(Expr::Kind kind, const Token& at, ExprPtr a, ExprPtr b) {
    ExprPtr e = NewExpr(kind, at);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return Done(std::move(e));
  }

  Result<ExprPtr> ParseOr() {
    FS_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      const Token at = Cur();
      Advance();
      FS_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      FS_ASSIGN_OR_RETURN(left, Binary(Expr::Kind::kOr, at, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    FS_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      const Token at = Cur();
      Advance();
      FS_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      FS_ASSIGN_OR_RETURN(left, Binary(Expr::Kind::kAnd, at, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParseNot() {
    if (!IsName("not")) return ParseCompare();
    Nest nest(&depth_);
    if (nest.too_deep()) return FailAt(Cur(), fmt::format("expression nests deeper than {} levels", kMaxParseDepth));
    const Token at = Cur();
    Advance();
    ExprPtr e = NewExpr(Expr::Kind::kNot, at);
    FS_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    e->args.push_back(std::move(operand));
    return Done(std::move(e));
  }

  Result<ExprPtr> ParseCompare() {
    const Token at = Cur();
    FS_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr cmp;
    while (true) {
      CmpOp op;
      if (IsOp("==")) {
        op = CmpOp::kEq;
      } else if (IsOp("!=")) {
        op = CmpOp::kNe;
      } else if (IsOp("<")) {
        op = CmpOp::kLt;
      } else if (IsOp("<=")) {
        op = CmpOp::kLe;
      } else if (IsOp(">")) {
        op = CmpOp::kGt;
      } else if (IsOp(">=")) {
        op = CmpOp::kGe;
      } else if (IsName("in")) {
        op = CmpOp::kIn;
      } else if (IsName("not") && Peek().type == Tok::kName && Peek().text == "in") {
        op = CmpOp::kNotIn;
        Advance();
      } else {
        break;
      }
      Advance();
      if (!cmp) {
        cmp = NewExpr(Expr::Kind::kCompare, at);
        cmp->args.push_back(std::move(first));
      }
      FS_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      cmp->cmp_ops.push_back(op);
      cmp->args.push_back(std::move(operand));
    }
    if (!cmp) return first;
    return Done(std::move(cmp));
  }

  Result<ExprPtr> ParseArith(int level) {
    // level 0: + -   level 1: ~ (concat)   level 2: * / // %   level 3: **
    if (level == 4) return ParseUnary(true);
    FS_ASSIGN_OR_RETURN(ExprPtr left, ParseArith(level + 1));
    if (level == 1) {
      if (!IsOp("~")) return left;
      ExprPtr cat = NewExpr(Expr::Kind::kConcat, Cur());
      cat->args.push_back(std::move(left));
      while (SkipOp("~")) {
        FS_ASSIGN_OR_RETURN(ExprPtr next, ParseArith(level + 1));
        cat->args.push_back(std::move(next));
      }
      return Done(std::move(cat));
    }
    while (Cur().type == Tok::kOp) {
      const std::string& t = Cur().text;
      BinOp op;
      if (level == 0 && (t == "+" || t == "-")) {
        op = t == "+" ? BinOp::kAdd : BinOp::kSub;
      } else if (level == 2 && (t == "*" || t == "/" || t == "//" || t == "%")) {
        op = t == "*" ? BinOp::kMul : t == "/" ? BinOp::kDiv : t == "//" ? BinOp::kFloorDiv : BinOp::kMod;
      } else if (level == 3 && t == "**") {
        op = BinOp::kPow;
      } else {
        break;
      }
      const Token at = Cur();
      Advance();
      FS_ASSIGN_OR_RETURN(ExprPtr right, ParseArith(level + 1));
      FS_ASSIGN_OR_RETURN(left, Binary(Expr::Kind::kBinary, at, std::move(left), std::move(right)));
      left->op = op;
    }
    return left;
  }
  Result<ExprPtr> ParseMath1() { return ParseArith(0); }

  Result<ExprPtr> ParseUnary(bool with_filter) {
    Nest nest(&depth_);
    if (nest.too_deep()) return FailAt(Cur(), fmt::format("expression nests deeper than {} levels", kMaxParseDepth));
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      ExprPtr e = NewExpr(IsOp("-") ? Expr::Kind::kNeg : Expr::Kind::kPos, Cur());
      Advance();
      FS_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      e->args.push_back(std::move(operand));
      FS_ASSIGN_OR_RETURN(node, Done(std::move(e)));
    } else {
      FS_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    FS_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      FS_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  Result<ExprPtr> ParsePrimary() {
    const Token t = Cur();
    switch (t.type) {
      case Tok::kName: {
        Advance();
        ExprPtr e = NewExpr(Expr::Kind::kConst, t);
        if (t.text == "true" || t.text == "True") {
          e->value = Value::Bool(true);
        } else if (t.text == "false" || t.text == "False") {
          e->value = Value::Bool(false);
        } else if (t.text == "none" || t.text == "None") {
          e->value = Value::None();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return Done(std::move(e));
      }
      case Tok::kString: {
        std::string s;
        while (Cur().type == Tok::kString) {  // adjacent literals concatenate
          s += Cur().text;
          Advance();
        }
        ExprPtr e = NewExpr(Expr::Kind::kConst, t);
        e->value = Value::Str(std::move(s));
        return Done(std::move(e));
      }
      case Tok::kInt:
      case Tok::kFloat: {
        Advance();
        ExprPtr e = NewExpr(Expr::Kind::kConst, t);
        e->value = t.type == Tok::kInt ? Value::Int(t.ival) : Value::Float(t.fval);
        return Done(std::move(e));
      }
      case Tok::kOp:
        if (t.text == "(") {
          Advance();
          FS_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, /*explicit_parens=*/true));
          FS_RETURN_IF_ERROR(ExpectOp(")"));
          return e;
        }
        if (t.text == "[" || t.text == "{") return ParseListOrDict(t.text == "{");
        break;
      default:
        break;
    }
    return Unexpected("an expression");
  }

  Result<ExprPtr> ParseListOrDict(bool is_dict) {
    ExprPtr e = NewExpr(is_dict ? Expr::Kind::kDict : Expr::Kind::kList, Cur());
    const char* close = is_dict ? "}" : "]";
    Advance();
    while (!IsOp(close)) {
      if (!e->args.empty()) FS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(close)) break;
      FS_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
      e->args.push_back(std::move(item));
      if (is_dict) {
        FS_RETURN_IF_ERROR(ExpectOp(":"));
        FS_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->args.push_back(std::move(value));
      }
    }
    Advance();
    return Done(std::move(e));
  }

  Result<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".") || IsOp("[")) {
        FS_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp("(")) {
        FS_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  Result<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        FS_ASSIGN_OR_RETURN(node, ParseFilters(std::move(node)));
      } else if (IsName("is")) {
        FS_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp("(")) {
        FS_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  Result<ExprPtr> ParseSubscript(ExprPtr node) {
    const Token at = Cur();
    if (SkipOp(".")) {
      if (Cur().type == Tok::kName) {
        ExprPtr e = NewExpr(Expr::Kind::kGetAttr, at);
        e->name = Cur().text;
        Advance();
        e->args.push_back(std::move(node));
        return Done(std::move(e));
      }
      if (Cur().type != Tok::kInt) return Unexpected("an attribute name or number");
      ExprPtr idx = NewExpr(Expr::Kind::kConst, Cur());
      idx->value = Value::Int(Cur().ival);
      Advance();
      ExprPtr e = NewExpr(Expr::Kind::kGetItem, at);
      e->args.push_back(std::move(node));
      e->args.push_back(std::move(idx));
      return Done(std::move(e));
    }
    Advance();  // [
    std::vector<ExprPtr> subs;
    while (!IsOp("]")) {
      if (!subs.empty()) FS_RETURN_IF_ERROR(ExpectOp(","));
      FS_ASSIGN_OR_RETURN(ExprPtr s, ParseSubscribed(node));
      subs.push_back(std::move(s));
      if (subs.back() == nullptr) {  // a slice consumed `node`
        if (subs.size() > 1) return FailAt(at, "a slice cannot be combined with other subscripts");
        FS_RETURN_IF_ERROR(ExpectOp("]"));
        return std::move(slice_);
      }
    }
    Advance();  // ]
    if (subs.empty()) return FailAt(at, "expected a subscript inside '[]'");
    ExprPtr e = NewExpr(Expr::Kind::kGetItem, at);
    e->args.push_back(std::move(node));
    if (subs.size() == 1) {
      e->args.push_back(std::move(subs[0]));
    } else {
      ExprPtr tuple = NewExpr(Expr::Kind::kTuple, at);
      tuple->args = std::move(subs);
      FS_ASSIGN_OR_RETURN(ExprPtr t, Done(std::move(tuple)));
      e->args.push_back(std::move(t));
    }
    return Done(std::move(e));
  }

  // One subscript: an expression, or a slice `a:b:c`. A slice takes ownership of `node`,
  // stores the finished kSlice in slice_ and returns nullptr.
  Result<ExprPtr> ParseSubscribed(ExprPtr& node) {
    const Token at = Cur();
    ExprPtr first;
    if (!IsOp(":")) {
      FS_ASSIGN_OR_RETURN(first, ParseExpression(true));
      if (!IsOp(":")) return first;
    }
    Advance();  // first ':'
    ExprPtr stop;
    ExprPtr step;
    if (!IsOp(":") && !IsOp("]") && !IsOp(",")) {
      FS_ASSIGN_OR_RETURN(stop, ParseExpression(true));
    }
    if (SkipOp(":") && !IsOp("]") && !IsOp(",")) {
      FS_ASSIGN_OR_RETURN(step, ParseExpression(true));
    }
    if (!IsOp("]")) return Unexpected("']' after a slice");
    ExprPtr e = NewExpr(Expr::Kind::kSlice, at);
    e->args.push_back(std::move(node));
    e->args.push_back(std::move(first));
    e->args.push_back(std::move(stop));
    e->args.push_back(std::move(step));
    FS_ASSIGN_OR_RETURN(slice_, Done(std::move(e)));
    return ExprPtr();
  }

  Status ParseCallArgs(Expr* e) {
    FS_RETURN_IF_ERROR(ExpectOp("("));
    bool need_comma = false;
    while (!IsOp(")")) {
      if (need_comma) {
        FS_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      if (IsOp("*") || IsOp("**")) return FailAt(Cur(), "'*' and '**' arguments are not supported in chat templates");
      if (Cur().type == Tok::kName && Peek().type == Tok::kOp && Peek().text == "=") {
        std::string key = Cur().text;
        Advance();
        Advance();
        FS_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!e->kwargs.empty()) return FailAt(Cur(), "positional argument follows keyword argument");
        FS_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->args.push_back(std::move(value));
      }
      need_comma = true;
    }
    Advance();  // )
    return Status::Ok();
  }

  Result<ExprPtr> ParseCall(ExprPtr callee) {
    ExprPtr e = NewExpr(Expr::Kind::kCall, Cur());
    e->args.push_back(std::move(callee));
    FS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    return Done(std::move(e));
  }

  Status ResolveName(Expr* e, bool is_filter) {
    if (is_filter) {
      e->filter = FindFilter(e->name);
      if (e->filter != nullptr || soft_) return Status::Ok();
      return Errorf("line {}:{}: unknown filter '{}'", e->line, e->col, e->name);
    }
    e->test = FindTest(e->name);
    if (e->test != nullptr || soft_) return Status::Ok();
    return Errorf("line {}:{}: unknown test '{}'", e->line, e->col, e->name);
  }

  // `| name(args) | name ...`; with start_inline the first '|' is absent (filter blocks).
  Result<ExprPtr> ParseFilters(ExprPtr node, bool start_inline = false) {
    while (IsOp("|") || start_inline) {
      if (!start_inline) Advance();
      start_inline = false;
      ExprPtr e = NewExpr(Expr::Kind::kFilter, Cur());
      FS_ASSIGN_OR_RETURN(e->name, ExpectNameTok());
      while (SkipOp(".")) {
        FS_ASSIGN_OR_RETURN(std::string part, ExpectNameTok());
        e->name += "." + part;
      }
      FS_RETURN_IF_ERROR(ResolveName(e.get(), true));
      e->args.push_back(std::move(node));
      if (IsOp("(")) FS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
      FS_ASSIGN_OR_RETURN(node, Done(std::move(e)));
    }
    return node;
  }

  Result<ExprPtr> ParseTest(ExprPtr node) {
    const Token at = Cur();
    Advance();  // is
    const bool negated = SkipName("not");
    ExprPtr e = NewExpr(Expr::Kind::kTest, Cur());  // positioned at the test's name
    FS_ASSIGN_OR_RETURN(e->name, ExpectNameTok());
    while (SkipOp(".")) {
      FS_ASSIGN_OR_RETURN(std::string part, ExpectNameTok());
      e->name += "." + part;
    }
    FS_RETURN_IF_ERROR(ResolveName(e.get(), false));
    e->args.push_back(std::move(node));
    const Tok ty = Cur().type;
    if (IsOp("(")) {
      FS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    } else if ((ty == Tok::kName || ty == Tok::kString || ty == Tok::kInt || ty == Tok::kFloat || IsOp("[") ||
                IsOp("{")) &&
               !IsName("else") && !IsName("or") && !IsName("and")) {
      if (IsName("is")) return FailAt(Cur(), "tests cannot be chained with 'is'");
      FS_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      FS_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      e->args.push_back(std::move(arg));
    }
    FS_ASSIGN_OR_RETURN(ExprPtr test, Done(std::move(e)));
    if (!negated) return test;
    ExprPtr n = NewExpr(Expr::Kind::kNot, at);
    n->args.push_back(std::move(test));
    return Done(std::move(n));
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  uint32_t depth_ = 0;
  uint32_t loop_depth_ = 0;
  bool soft_ = false;  // inside if/conditional: unknown filters and tests fail only when run
  std::vector<OpenBlock> open_;
  ExprPtr slice_;  // hand-off from ParseSubscribed
};

}  // namespace

Result<Body> ParseTemplate(std::string_view source) {
  FS_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source));
  return Parser(std::move(tokens)).ParseAll();
}

}  // namespace flashstream::jinja
