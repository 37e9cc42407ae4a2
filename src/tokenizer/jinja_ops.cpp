// Python operator semantics for template values: arithmetic, comparison, membership,
// iteration, item access and slicing, and printf-style `%` formatting.
#include <fmt/format.h>  // fmt::format for messages and %-formatting

#include <cmath>  // std::floor, std::fmod, std::pow

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

const char* OpSymbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kFloorDiv:
      return "//";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "**";
  }
  return "?";
}

Status Unsupported(BinOp op, const Value& a, const Value& b) {
  return Errorf("unsupported operand type(s) for {}: '{}' and '{}'", OpSymbol(op), TypeName(a), TypeName(b));
}

Result<Value> IntArith(BinOp op, int64_t x, int64_t y) {
  int64_t r = 0;
  switch (op) {
    case BinOp::kAdd:
      if (__builtin_add_overflow(x, y, &r)) return Status::Error("integer overflow in +");
      return Value::Int(r);
    case BinOp::kSub:
      if (__builtin_sub_overflow(x, y, &r)) return Status::Error("integer overflow in -");
      return Value::Int(r);
    case BinOp::kMul:
      if (__builtin_mul_overflow(x, y, &r)) return Status::Error("integer overflow in *");
      return Value::Int(r);
    case BinOp::kDiv:
      if (y == 0) return Status::Error("division by zero");
      return Value::Float(static_cast<double>(x) / static_cast<double>(y));
    case BinOp::kFloorDiv:
    case BinOp::kMod: {
      if (y == 0) return Status::Error("integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) return Status::Error("integer overflow in //");
      int64_t q = x / y;
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::Int(op == BinOp::kFloorDiv ? q : m);
    }
    case BinOp::kPow: {
      if (y < 0) {
        if (x == 0) return Status::Error("0 cannot be raised to a negative power");
        return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
      int64_t result = 1;
      int64_t base = x;
      for (int64_t e = y; e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result)) return Status::Error("integer overflow in **");
        if (e > 1 && __builtin_mul_overflow(base, base, &base)) return Status::Error("integer overflow in **");
      }
      return Value::Int(result);
    }
  }
  return Status::Error("bad operator");
}

Result<Value> FloatArith(BinOp op, double x, double y) {
  switch (op) {
    case BinOp::kAdd:
      return Value::Float(x + y);
    case BinOp::kSub:
      return Value::Float(x - y);
    case BinOp::kMul:
      return Value::Float(x * y);
    case BinOp::kDiv:
      if (y == 0) return Status::Error("float division by zero");
      return Value::Float(x / y);
    case BinOp::kFloorDiv:
    case BinOp::kMod: {
      if (y == 0) return Status::Error("float modulo by zero");
      // CPython's float divmod.
      double m = std::fmod(x, y);
      double div = (x - m) / y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        m += y;
        div -= 1.0;
      }
      if (op == BinOp::kMod) return Value::Float(m);
      double q = std::floor(div);
      if (div - q > 0.5) q += 1.0;
      return Value::Float(q);
    }
    case BinOp::kPow:
      if (x == 0 && y < 0) return Status::Error("0.0 cannot be raised to a negative power");
      return Value::Float(std::pow(x, y));
  }
  return Status::Error("bad operator");
}

// Repeats a str or list `n` times (Python `seq * n`).
Result<Value> Repeat(Interp& in, const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  const uint64_t count = static_cast<uint64_t>(n);
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && count > in.limits().max_output_bytes / s.size() + 1) {
      return Errorf("a value of more than {} bytes exceeds the limit", in.limits().max_output_bytes);
    }
    FS_RETURN_IF_ERROR(in.Charge(s.size() * count));
    std::string out;
    out.reserve(s.size() * count);
    for (uint64_t i = 0; i < count; ++i) out += s;
    return Value::Str(std::move(out));
  }
  const List& items = seq.list();
  if (!items.empty() && count > in.limits().max_output_bytes / (items.size() * sizeof(Value)) + 1) {
    return Errorf("a list of more than {} bytes exceeds the limit", in.limits().max_output_bytes);
  }
  FS_RETURN_IF_ERROR(in.Charge(items.size() * count * sizeof(Value)));
  List out;
  out.reserve(items.size() * count);
  for (uint64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.kind() == Value::Kind::kTuple ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
}

// Python slice bounds for a sequence of length n (PySlice_AdjustIndices).
Status SliceBounds(const Value* start, const Value* stop, const Value* step, int64_t n, int64_t* b, int64_t* e,
                   int64_t* s) {
  auto as_int = [](const Value* v, int64_t dflt, int64_t* out) -> Status {
    if (v == nullptr || v->is_none()) {
      *out = dflt;
      return Status::Ok();
    }
    if (!v->is_int()) return Errorf("slice indices must be integers or None, not {}", TypeName(*v));
    *out = v->as_int();
    return Status::Ok();
  };
  FS_RETURN_IF_ERROR(as_int(step, 1, s));
  if (*s == 0) return Status::Error("slice step cannot be zero");
  const int64_t lower = *s > 0 ? 0 : -1;
  const int64_t upper = *s > 0 ? n : n - 1;
  auto adjust = [&](int64_t v) {
    if (v < 0) {
      v += n;
      return v < lower ? lower : v;
    }
    return v > upper ? upper : v;
  };
  int64_t v = 0;
  FS_RETURN_IF_ERROR(as_int(start, *s > 0 ? lower : upper, &v));
  *b = (start == nullptr || start->is_none()) ? v : adjust(v);
  FS_RETURN_IF_ERROR(as_int(stop, *s > 0 ? upper : lower, &v));
  *e = (stop == nullptr || stop->is_none()) ? v : adjust(v);
  return Status::Ok();
}

}  // namespace

Result<Value> NewStr(Interp& in, std::string s) {
  FS_RETURN_IF_ERROR(in.Charge(s.size()));
  return Value::Str(std::move(s));
}

Result<std::string> StrOf(Interp& in, const Value& v) {
  if (v.is_string()) return v.str();
  std::string s = ToStr(v, in.limits().max_output_bytes);
  FS_RETURN_IF_ERROR(in.Charge(s.size()));
  return s;
}

Result<Value> BinaryOp(Interp& in, BinOp op, const Value& a, const Value& b) {
  if (op == BinOp::kMod && a.is_string()) return PercentFormat(in, a.str(), b);
  if (a.is_undefined()) return Status::Error(a.undefined_hint());
  if (b.is_undefined()) return Status::Error(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return IntArith(op, a.as_int(), b.as_int());
    return FloatArith(op, a.as_double(), b.as_double());
  }
  if (op == BinOp::kAdd) {
    if (a.is_string() && b.is_string()) {
      FS_RETURN_IF_ERROR(in.Charge(a.str().size() + b.str().size()));
      return Value::Str(a.str() + b.str());
    }
    if (a.is_sequence() && a.kind() == b.kind()) {
      FS_RETURN_IF_ERROR(in.Charge((a.list().size() + b.list().size()) * sizeof(Value)));
      List out = a.list();
      out.insert(out.end(), b.list().begin(), b.list().end());
      return a.kind() == Value::Kind::kTuple ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
    }
  }
  if (op == BinOp::kMul) {
    if ((a.is_string() || a.is_sequence()) && b.is_int()) return Repeat(in, a, b.as_int());
    if (a.is_int() && (b.is_string() || b.is_sequence())) return Repeat(in, b, a.as_int());
  }
  return Unsupported(op, a, b);
}

Result<Value> Negate(const Value& v) {
  if (v.is_undefined()) return Status::Error(v.undefined_hint());
  if (v.kind() == Value::Kind::kFloat) return Value::Float(-v.as_double());
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) return Status::Error("integer overflow in unary -");
    return Value::Int(-v.as_int());
  }
  return Errorf("bad operand type for unary -: '{}'", TypeName(v));
}

Result<bool> Contains(Interp& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) return Errorf("'in <string>' requires string as left operand, not {}", TypeName(item));
      FS_RETURN_IF_ERROR(in.Step(container.str().size() >> 10));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      uint64_t work = 0;
      bool found = false;
      for (const Value& v : container.list()) {
        if ((found = Equals(v, item, &work))) break;
      }
      FS_RETURN_IF_ERROR(in.Step(work / 4));
      return found;
    }
    case Value::Kind::kDict:
      if (item.is_sequence() && item.kind() == Value::Kind::kList) return Status::Error("unhashable type: 'list'");
      if (item.is_dict()) return Status::Error("unhashable type: 'dict'");
      FS_RETURN_IF_ERROR(in.Step(container.dict().size()));
      return container.dict().Find(item) != nullptr;
    case Value::Kind::kIterator: {
      FS_ASSIGN_OR_RETURN(List items, IterItems(in, container));
      uint64_t work = 0;
      bool found = false;
      for (const Value& v : items) {
        if ((found = Equals(v, item, &work))) break;
      }
      FS_RETURN_IF_ERROR(in.Step(work / 4));
      return found;
    }
    default:
      return Errorf("argument of type '{}' is not iterable", TypeName(container));
  }
}

Result<bool> CompareOp(Interp& in, CmpOp op, const Value& a, const Value& b) {
  if (op == CmpOp::kIn || op == CmpOp::kNotIn) {
    FS_ASSIGN_OR_RETURN(bool found, Contains(in, b, a));
    return found == (op == CmpOp::kIn);
  }
  uint64_t work = 0;
  if (op == CmpOp::kEq || op == CmpOp::kNe) {
    const bool eq = Equals(a, b, &work);
    FS_RETURN_IF_ERROR(in.Step(work / 4));
    return eq == (op == CmpOp::kEq);
  }
  Result<int> cmp = Compare(a, b, &work);
  FS_RETURN_IF_ERROR(in.Step(work / 4));
  FS_ASSIGN_OR_RETURN(int c, std::move(cmp));
  switch (op) {
    case CmpOp::kLt:
      return c < 0;
    case CmpOp::kLe:
      return c <= 0;
    case CmpOp::kGt:
      return c > 0;
    default:
      return c >= 0;
  }
}

Result<List> IterItems(Interp& in, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kIterator: {
      Iterator& it = v.iterator();
      if (it.consumed) return List();
      it.consumed = true;
      return it.produce(in);
    }
    case Value::Kind::kUndefined:
      return List();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.list();
    case Value::Kind::kDict: {
      List keys;
      keys.reserve(v.dict().size());
      for (const auto& [k, val] : v.dict().items()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const std::string& s = v.str();
      for (size_t i = 0; i < s.size();) {
        const size_t start = i;
        NextCodePoint(s, &i);
        chars.push_back(Value::Str(s.substr(start, i - start)));
      }
      return chars;
    }
    default:
      return Errorf("'{}' object is not iterable", TypeName(v));
  }
}

Result<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return Status::Error(obj.undefined_hint());
  switch (obj.kind()) {
    case Value::Kind::kDict: {
      if (const Value* v = obj.dict().Find(key)) return *v;
      if (key.is_string()) return GetAttr(obj, key.str());
      return Value::Undefined(fmt::format("'dict object' has no attribute {}", Repr(key, 200)));
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kString: {
      if (key.is_string()) return GetAttr(obj, key.str());
      if (!key.is_int()) return Value::Undefined(fmt::format("'{}' indices must be integers", TypeName(obj)));
      int64_t i = key.as_int();
      if (obj.is_string()) {
        const std::vector<size_t> offsets = CodePointOffsets(obj.str());
        const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::Undefined("string index out of range");
        const size_t at = offsets[static_cast<size_t>(i)];
        return Value::Str(obj.str().substr(at, offsets[static_cast<size_t>(i) + 1] - at));
      }
      const int64_t n = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::Undefined(fmt::format("{} index out of range", TypeName(obj)));
      return obj.list()[static_cast<size_t>(i)];
    }
    case Value::Kind::kNamespace:
      if (key.is_string()) return GetAttr(obj, key.str());
      return Value::Undefined("namespace attributes are strings");
    default:
      return Value::Undefined(fmt::format("'{}' object is not subscriptable", TypeName(obj)));
  }
}

Result<Value> Slice(Interp& in, const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (obj.is_undefined()) return Status::Error(obj.undefined_hint());
  // jinja2 compiles slices to plain Python subscripts, so unlike obj[key] this fails.
  if (!obj.is_string() && !obj.is_sequence()) return Errorf("'{}' object cannot be sliced", TypeName(obj));
  std::vector<size_t> offsets;
  int64_t n = 0;
  if (obj.is_string()) {
    offsets = CodePointOffsets(obj.str());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.list().size());
  }
  int64_t b = 0, e = 0, s = 1;
  FS_RETURN_IF_ERROR(SliceBounds(start, stop, step, n, &b, &e, &s));
  FS_RETURN_IF_ERROR(in.Step(static_cast<uint64_t>(n) >> 4));
  if (obj.is_string()) {
    const std::string& str = obj.str();
    std::string out;
    if (s == 1 && b < e) {
      out = str.substr(offsets[static_cast<size_t>(b)],
                       offsets[static_cast<size_t>(e)] - offsets[static_cast<size_t>(b)]);
    } else {
      for (int64_t i = b; s > 0 ? i < e : i > e; i += s) {
        const size_t at = offsets[static_cast<size_t>(i)];
        out.append(str, at, offsets[static_cast<size_t>(i) + 1] - at);
      }
    }
    return NewStr(in, std::move(out));
  }
  List out;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(obj.list()[static_cast<size_t>(i)]);
  FS_RETURN_IF_ERROR(in.Charge(out.size() * sizeof(Value)));
  return obj.kind() == Value::Kind::kTuple ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
}

Result<Value> PercentFormat(Interp& in, const std::string& fmt_str, const Value& args) {
  const List single{args};
  const List& values = args.kind() == Value::Kind::kTuple ? args.list() : single;
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt_str.size(); ++i) {
    if (fmt_str[i] != '%') {
      out.push_back(fmt_str[i]);
      continue;
    }
    if (++i >= fmt_str.size()) return Status::Error("incomplete format");
    int precision = -1;
    if (fmt_str[i] == '.') {
      precision = 0;
      while (++i < fmt_str.size() && fmt_str[i] >= '0' && fmt_str[i] <= '9' && precision < 100) {
        precision = precision * 10 + (fmt_str[i] - '0');
      }
      if (i >= fmt_str.size()) return Status::Error("incomplete format");
    }
    const char conv = fmt_str[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= values.size()) return Status::Error("not enough arguments for format string");
    const Value& v = values[next++];
    switch (conv) {
      case 's': {
        FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
        out += s;
        break;
      }
      case 'r':
        out += Repr(v, in.limits().max_output_bytes);
        break;
      case 'd':
      case 'i':
      case 'f':
      case 'x':
        if (!v.is_number()) return Errorf("%{} format: a real number is required, not {}", conv, TypeName(v));
        if (conv == 'f') {
          out += fmt::format("{:.{}f}", v.as_double(), precision < 0 ? 6 : precision);
        } else {
          const int64_t iv = v.is_int() ? v.as_int() : static_cast<int64_t>(v.as_double());
          out += conv == 'x' ? fmt::format("{:x}", iv) : std::to_string(iv);
        }
        break;
      default:
        return Errorf("unsupported format character '{}'", conv);
    }
    if (out.size() > in.limits().max_output_bytes) {
      return Errorf("formatted string exceeds the {}-byte limit", in.limits().max_output_bytes);
    }
  }
  // Python exempts anything with __getitem__ but str (dict, list, jinja2's Undefined) from
  // this check.
  const bool has_getitem = args.is_dict() || args.kind() == Value::Kind::kList || args.is_undefined();
  if (next < values.size() && !has_getitem) {
    return Status::Error("not all arguments converted during string formatting");
  }
  return NewStr(in, std::move(out));
}

}  // namespace flashstream::jinja
