// Jinja tests (`x is defined`, `n is divisibleby 3`, ...) with jinja2's semantics, where
// Undefined counts as iterable and callable and bool counts as a number.
#include <map>  // test table

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

using Args = const CallArgs&;

Result<const Value*> OneArg(std::string_view name, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"other"}));
  if (r.Get(0) == nullptr) return Errorf("test '{}' needs an argument", name);
  return r.Get(0);
}

template <CmpOp kOp>
Result<bool> TCompare(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(const Value* other, OneArg("comparison", a));
  return CompareOp(in, kOp, v, *other);
}

template <bool (*Pred)(const Value&)>
Result<bool> TKind(Interp&, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("test", a, {}).status());
  return Pred(v);
}

Result<bool> TDivisible(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(const Value* n, OneArg("divisibleby", a));
  FS_ASSIGN_OR_RETURN(Value m, BinaryOp(in, BinOp::kMod, v, *n));
  return !Truthy(m);
}

template <int kRem>
Result<bool> TParity(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("even/odd", a, {}).status());
  FS_ASSIGN_OR_RETURN(Value m, BinaryOp(in, BinOp::kMod, v, Value::Int(2)));
  return m.is_number() && m.as_double() == kRem;
}

Result<bool> TIn(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(const Value* seq, OneArg("in", a));
  return Contains(in, *seq, v);
}

Result<bool> TSameAs(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(const Value* other, OneArg("sameas", a));
  if (v.kind() != other->kind()) return false;
  if (v.identity() != nullptr) return v.identity() == other->identity();
  return Equals(v, *other);
}

template <bool kLower>
Result<bool> TCase(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("lower/upper", a, {}).status());
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    const uint32_t c = NextCodePoint(s, &i);
    if (kLower ? IsUpperCp(c) : (IsLowerCp(c))) return false;
    cased = cased || IsCased(c);
  }
  return cased;
}

template <bool kFilter>
Result<bool> TNamed(Interp&, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("filter/test", a, {}).status());
  if (!v.is_string()) return false;
  return kFilter ? FindFilter(v.str()) != nullptr : FindTest(v.str()) != nullptr;
}

bool IsDefined(const Value& v) { return !v.is_undefined(); }
bool IsUndefined(const Value& v) { return v.is_undefined(); }
bool IsNone(const Value& v) { return v.is_none(); }
bool IsBoolean(const Value& v) { return v.kind() == Value::Kind::kBool; }
bool IsTrue(const Value& v) { return v.kind() == Value::Kind::kBool && v.as_bool(); }
bool IsFalse(const Value& v) { return v.kind() == Value::Kind::kBool && !v.as_bool(); }
bool IsInteger(const Value& v) { return v.kind() == Value::Kind::kInt; }
bool IsFloat(const Value& v) { return v.kind() == Value::Kind::kFloat; }
bool IsNumber(const Value& v) { return v.is_number(); }
bool IsString(const Value& v) { return v.is_string(); }
bool IsMapping(const Value& v) { return v.is_dict(); }
bool IsSequence(const Value& v) { return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict(); }
bool IsIterable(const Value& v) { return IsSequence(v) || v.kind() == Value::Kind::kIterator; }
bool IsCallable(const Value& v) {
  return v.kind() == Value::Kind::kCallable || v.is_undefined();
}  // Undefined has __call__
bool IsEscaped(const Value&) { return false; }

}  // namespace

TestFn FindTest(std::string_view name) {
  static const std::map<std::string_view, TestFn> kTests = {
      {"!=", TCompare<CmpOp::kNe>},
      {"<", TCompare<CmpOp::kLt>},
      {"<=", TCompare<CmpOp::kLe>},
      {"==", TCompare<CmpOp::kEq>},
      {">", TCompare<CmpOp::kGt>},
      {">=", TCompare<CmpOp::kGe>},
      {"boolean", TKind<IsBoolean>},
      {"callable", TKind<IsCallable>},
      {"defined", TKind<IsDefined>},
      {"divisibleby", TDivisible},
      {"eq", TCompare<CmpOp::kEq>},
      {"equalto", TCompare<CmpOp::kEq>},
      {"escaped", TKind<IsEscaped>},
      {"even", TParity<0>},
      {"false", TKind<IsFalse>},
      {"filter", TNamed<true>},
      {"float", TKind<IsFloat>},
      {"ge", TCompare<CmpOp::kGe>},
      {"greaterthan", TCompare<CmpOp::kGt>},
      {"gt", TCompare<CmpOp::kGt>},
      {"in", TIn},
      {"integer", TKind<IsInteger>},
      {"iterable", TKind<IsIterable>},
      {"le", TCompare<CmpOp::kLe>},
      {"lessthan", TCompare<CmpOp::kLt>},
      {"lower", TCase<true>},
      {"lt", TCompare<CmpOp::kLt>},
      {"mapping", TKind<IsMapping>},
      {"ne", TCompare<CmpOp::kNe>},
      {"none", TKind<IsNone>},
      {"number", TKind<IsNumber>},
      {"odd", TParity<1>},
      {"sameas", TSameAs},
      {"sequence", TKind<IsSequence>},
      {"string", TKind<IsString>},
      {"test", TNamed<false>},
      {"true", TKind<IsTrue>},
      {"undefined", TKind<IsUndefined>},
      {"upper", TCase<false>},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace flashstream::jinja
