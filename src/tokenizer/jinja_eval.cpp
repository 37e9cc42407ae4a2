// Expression evaluation for Interp (see jinja_interp.h): names, literals, attribute and
// item access, calls, filters, tests and operators.
#include <fmt/format.h>  // fmt::format for error messages

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interp.h"

namespace flashstream::jinja {
namespace {

bool HasLocation(const Status& s) {
  const std::string& m = s.message();
  return m.size() > 5 && m.compare(0, 5, "line ") == 0 && m[5] >= '0' && m[5] <= '9';
}

// Adds the position of `e` to an error that has none yet.
Status At(const Expr& e, const Status& s) {
  if (s.ok() || HasLocation(s)) return s;
  return Errorf("line {}:{}: {}", e.line, e.col, s.message());
}

template <typename T>
Result<T> At(const Expr& e, Result<T> r) {
  if (r.ok()) return r;
  return At(e, r.status());
}

Status Fail(const Expr& e, const std::string& msg) { return Errorf("line {}:{}: {}", e.line, e.col, msg); }

}  // namespace

Result<Value> Interp::Eval(const Expr& e, Scope* scope) {
  ++depth_;
  Result<Value> r = depth_ > limits_.max_depth ? Fail(e, fmt::format("nesting exceeds {} levels", limits_.max_depth))
                                               : EvalInner(e, scope);
  --depth_;
  if (r.ok() && r->depth() > limits_.max_depth) {
    return Fail(e, fmt::format("a value nests deeper than {} levels", limits_.max_depth));
  }
  return r;
}

Result<CallArgs> Interp::EvalArgs(const Expr& e, size_t first, Scope* scope) {
  CallArgs args;
  args.args.reserve(e.args.size() - first);
  for (size_t i = first; i < e.args.size(); ++i) {
    FS_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i], scope));
    args.args.push_back(std::move(v));
  }
  for (const auto& [key, expr] : e.kwargs) {
    FS_ASSIGN_OR_RETURN(Value v, Eval(*expr, scope));
    args.kwargs.emplace_back(key, std::move(v));
  }
  return args;
}

Result<Value> Interp::EvalCompare(const Expr& e, Scope* scope) {
  FS_ASSIGN_OR_RETURN(Value left, Eval(*e.args[0], scope));
  for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
    FS_ASSIGN_OR_RETURN(Value right, Eval(*e.args[i + 1], scope));
    FS_ASSIGN_OR_RETURN(bool ok, At(e, CompareOp(*this, e.cmp_ops[i], left, right)));
    if (!ok) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

Result<Value> Interp::EvalInner(const Expr& e, Scope* scope) {
  FS_RETURN_IF_ERROR(At(e, Step()));
  switch (e.kind) {
    case Expr::Kind::kConst:
      return e.value;
    case Expr::Kind::kName:
      return Lookup(e.name, scope);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      FS_RETURN_IF_ERROR(At(e, Charge(e.args.size() * sizeof(Value))));
      List items;
      items.reserve(e.args.size());
      for (const ExprPtr& a : e.args) {
        FS_ASSIGN_OR_RETURN(Value v, Eval(*a, scope));
        items.push_back(std::move(v));
      }
      return e.kind == Expr::Kind::kList ? Value::MakeList(std::move(items)) : Value::MakeTuple(std::move(items));
    }
    case Expr::Kind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        FS_ASSIGN_OR_RETURN(Value k, Eval(*e.args[i], scope));
        FS_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1], scope));
        const Value::Kind kk = k.kind();
        if (kk == Value::Kind::kList || kk == Value::Kind::kDict || kk == Value::Kind::kNamespace) {
          return Fail(*e.args[i], fmt::format("unhashable type: '{}'", TypeName(k)));
        }
        d.Set(std::move(k), std::move(v));
      }
      return Value::MakeDict(std::move(d));
    }
    case Expr::Kind::kGetAttr: {
      FS_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      if (obj.is_undefined()) return Fail(e, obj.undefined_hint());
      return GetAttr(obj, e.name);
    }
    case Expr::Kind::kGetItem: {
      FS_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      FS_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1], scope));
      return At(e, GetItem(obj, key));
    }
    case Expr::Kind::kSlice: {
      FS_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
      Value parts[3];
      for (int i = 0; i < 3; ++i) {
        if (e.args[static_cast<size_t>(i) + 1]) {
          FS_ASSIGN_OR_RETURN(parts[i], Eval(*e.args[static_cast<size_t>(i) + 1], scope));
        }
      }
      return At(e, Slice(*this, obj, e.args[1] ? &parts[0] : nullptr, e.args[2] ? &parts[1] : nullptr,
                         e.args[3] ? &parts[2] : nullptr));
    }
    case Expr::Kind::kCall: {
      FS_ASSIGN_OR_RETURN(Value callee, Eval(*e.args[0], scope));
      FS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
      return At(e, Call(callee, args));
    }
    case Expr::Kind::kFilter: {
      if (e.filter == nullptr) return Fail(e, fmt::format("unknown filter '{}'", e.name));
      Value input;
      if (e.args[0]) {
        FS_ASSIGN_OR_RETURN(input, Eval(*e.args[0], scope));
      } else if (block_input_ != nullptr) {
        input = *block_input_;
      }
      FS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
      return At(e, e.filter(*this, input, args));
    }
    case Expr::Kind::kTest: {
      if (e.test == nullptr) return Fail(e, fmt::format("unknown test '{}'", e.name));
      FS_ASSIGN_OR_RETURN(Value subject, Eval(*e.args[0], scope));
      FS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
      FS_ASSIGN_OR_RETURN(bool ok, At(e, e.test(*this, subject, args)));
      return Value::Bool(ok);
    }
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      FS_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], scope));
      if (e.kind == Expr::Kind::kNeg) return At(e, Negate(v));
      if (v.is_undefined()) return Fail(e, v.undefined_hint());
      if (!v.is_number()) return Fail(e, fmt::format("bad operand type for unary +: '{}'", TypeName(v)));
      return v.kind() == Value::Kind::kBool ? Value::Int(v.as_int()) : v;
    }
    case Expr::Kind::kNot: {
      FS_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], scope));
      return Value::Bool(!Truthy(v));
    }
    case Expr::Kind::kBinary: {
      FS_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
      FS_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1], scope));
      return At(e, BinaryOp(*this, e.op, a, b));
    }
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      FS_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
      if (Truthy(a) == (e.kind == Expr::Kind::kOr)) return a;
      return Eval(*e.args[1], scope);
    }
    case Expr::Kind::kCompare:
      return EvalCompare(e, scope);
    case Expr::Kind::kConcat: {
      std::string s;
      for (const ExprPtr& a : e.args) {
        FS_ASSIGN_OR_RETURN(Value v, Eval(*a, scope));
        if (v.is_string()) {
          FS_RETURN_IF_ERROR(At(e, Charge(s.size() + v.str().size())));
          s += v.str();
        } else {
          const std::string part = ToStr(v, limits_.max_output_bytes);
          FS_RETURN_IF_ERROR(At(e, Charge(s.size() + part.size())));
          s += part;
        }
      }
      return Value::Str(std::move(s));
    }
    case Expr::Kind::kCond: {
      FS_ASSIGN_OR_RETURN(Value cond, Eval(*e.args[1], scope));
      if (Truthy(cond)) return Eval(*e.args[0], scope);
      if (e.args[2]) return Eval(*e.args[2], scope);
      return Value::Undefined(
          fmt::format("the inline if-expression at line {}:{} was false and has no else section", e.line, e.col));
    }
  }
  return Fail(e, "unknown expression");
}

}  // namespace flashstream::jinja
