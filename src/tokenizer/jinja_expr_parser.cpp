// Expression grammar of the chat-template parser (see jinja_expr_parser.h). Precedence
// follows jinja2: condexpr < or < and < not < compare < +,- < ~ < *,/,//,% < ** < unary
// -,+ < postfix (.attr, [item], call) < filters and tests.
#include "tokenizer/jinja_expr_parser.h"

namespace flashstream::jinja {

std::string ExprParser::Describe(const Token& t) const {
  switch (t.type) {
    case Tok::kData:
      return "template text";
    case Tok::kVarBegin:
      return "'{{'";
    case Tok::kVarEnd:
      return "'}}'";
    case Tok::kBlockBegin:
      return "'{%'";
    case Tok::kBlockEnd:
      return "'%}'";
    case Tok::kName:
      return "'" + t.text + "'";
    case Tok::kString:
      return "a string";
    case Tok::kInt:
      return "an integer";
    case Tok::kFloat:
      return "a float";
    case Tok::kOp:
      return "'" + t.text + "'";
    case Tok::kEof:
      return "end of template";
  }
  return "token";
}

bool ExprParser::IsTupleEnd(std::initializer_list<std::string_view> extra_end) const {
  if (Cur().type == Tok::kVarEnd || Cur().type == Tok::kBlockEnd || IsOp(")")) return true;
  for (std::string_view e : extra_end) {
    if (IsName(e)) return true;
  }
  return false;
}

Result<ExprPtr> ExprParser::ParseTuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                                       bool explicit_parens) {
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

Result<ExprPtr> ExprParser::ParseExpression(bool with_condexpr) {
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

Result<ExprPtr> ExprParser::Binary(Expr::Kind kind, const Token& at, ExprPtr a, ExprPtr b) {
  ExprPtr e = NewExpr(kind, at);
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return Done(std::move(e));
}

Result<ExprPtr> ExprParser::ParseOr() {
  FS_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    const Token at = Cur();
    Advance();
    FS_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    FS_ASSIGN_OR_RETURN(left, Binary(Expr::Kind::kOr, at, std::move(left), std::move(right)));
  }
  return left;
}

Result<ExprPtr> ExprParser::ParseAnd() {
  FS_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    const Token at = Cur();
    Advance();
    FS_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    FS_ASSIGN_OR_RETURN(left, Binary(Expr::Kind::kAnd, at, std::move(left), std::move(right)));
  }
  return left;
}

Result<ExprPtr> ExprParser::ParseNot() {
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

Result<ExprPtr> ExprParser::ParseCompare() {
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

Result<ExprPtr> ExprParser::ParseArith(int level) {
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

Result<ExprPtr> ExprParser::ParseMath1() { return ParseArith(0); }

Result<ExprPtr> ExprParser::ParseUnary(bool with_filter) {
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

Result<ExprPtr> ExprParser::ParsePrimary() {
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

Result<ExprPtr> ExprParser::ParseListOrDict(bool is_dict) {
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

Result<ExprPtr> ExprParser::ParsePostfix(ExprPtr node) {
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

Result<ExprPtr> ExprParser::ParseFilterExpr(ExprPtr node) {
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

Result<ExprPtr> ExprParser::ParseSubscript(ExprPtr node) {
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

Result<ExprPtr> ExprParser::ParseSubscribed(ExprPtr& node) {
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

Status ExprParser::ParseCallArgs(Expr* e) {
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

Result<ExprPtr> ExprParser::ParseCall(ExprPtr callee) {
  ExprPtr e = NewExpr(Expr::Kind::kCall, Cur());
  e->args.push_back(std::move(callee));
  FS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
  return Done(std::move(e));
}

Status ExprParser::ResolveName(Expr* e, bool is_filter) {
  if (is_filter) {
    e->filter = FindFilter(e->name);
    if (e->filter != nullptr || soft_) return Status::Ok();
    return Errorf("line {}:{}: unknown filter '{}'", e->line, e->col, e->name);
  }
  e->test = FindTest(e->name);
  if (e->test != nullptr || soft_) return Status::Ok();
  return Errorf("line {}:{}: unknown test '{}'", e->line, e->col, e->name);
}

Result<ExprPtr> ExprParser::ParseFilters(ExprPtr node, bool start_inline) {
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

Result<ExprPtr> ExprParser::ParseTest(ExprPtr node) {
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

}  // namespace flashstream::jinja
