// Recursive-descent parser producing the tree in jinja_ast.h. The grammar and operator
// precedence follow jinja2's parser: condexpr < or < and < not < compare < +,- < ~ <
// *,/,//,% < ** < unary -,+ < postfix (.attr, [item], call) < filters and tests.
#include "tokenizer/jinja_parser.h"

#include <fmt/format.h>  // fmt::format for error messages

#include <algorithm>  // std::max

#include "tokenizer/jinja_expr_parser.h"  // ExprParser: cursor and expressions
#include "tokenizer/jinja_lexer.h"

namespace flashstream::jinja {
namespace {

// Tags that jinja2 knows but chat templates have no use for (they need a loader or HTML).
bool IsUnsupportedTag(const std::string& name) {
  return name == "call" || name == "block" || name == "extends" || name == "include" || name == "import" ||
         name == "from" || name == "autoescape";
}

class Parser : public ExprParser {
 public:
  using ExprParser::ExprParser;

  Result<Body> ParseAll() {
    FS_ASSIGN_OR_RETURN(Body body, Subparse({}));
    if (Cur().type != Tok::kEof) return Unexpected("a statement");
    return body;
  }

 private:
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

  uint32_t loop_depth_ = 0;
};

}  // namespace

Result<Template> ParseTemplate(std::string_view source) {
  FS_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source));
  Template t;
  FS_ASSIGN_OR_RETURN(t.body, Parser(std::move(tokens)).ParseAll());
  ResolveFrames(&t);
  return t;
}

}  // namespace flashstream::jinja
