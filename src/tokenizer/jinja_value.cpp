// Value construction, Python equality/ordering, str()/repr() and JSON conversion.
#include "tokenizer/jinja_value.h"

#include <fmt/format.h>  // fmt::format for messages and escapes

#include <algorithm>  // std::max, std::sort
#include <cmath>      // std::isnan, std::isinf

#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

constexpr int kMaxReprDepth = 64;  // namespaces may hold themselves; repr stops here

uint32_t MaxDepth(const List& items) {
  uint32_t d = 0;
  for (const Value& v : items) d = std::max(d, v.depth());
  return d;
}

void ReprImpl(const Value& v, int depth, size_t max, std::string* out);

void JoinRepr(const List& items, int depth, size_t max, std::string* out) {
  for (size_t i = 0; i < items.size() && out->size() <= max; ++i) {
    if (i > 0) out->append(", ");
    ReprImpl(items[i], depth + 1, max, out);
  }
}

void DictRepr(const Dict& d, int depth, size_t max, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : d.items()) {
    if (out->size() > max) return;
    if (!first) out->append(", ");
    first = false;
    ReprImpl(k, depth + 1, max, out);
    out->append(": ");
    ReprImpl(v, depth + 1, max, out);
  }
  out->push_back('}');
}

void ReprImpl(const Value& v, int depth, size_t max, std::string* out) {
  if (out->size() > max) return;
  if (depth > kMaxReprDepth) {
    out->append("...");
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kString:
      out->append(PyStrRepr(v.str()));
      return;
    case Value::Kind::kList:
      out->push_back('[');
      JoinRepr(v.list(), depth, max, out);
      out->push_back(']');
      return;
    case Value::Kind::kTuple:
      out->push_back('(');
      JoinRepr(v.list(), depth, max, out);
      out->append(v.list().size() == 1 ? ",)" : ")");
      return;
    case Value::Kind::kDict:
      DictRepr(v.dict(), depth, max, out);
      return;
    case Value::Kind::kNamespace:
      out->append("<Namespace ");
      DictRepr(v.ns().attrs, depth, max, out);
      out->push_back('>');
      return;
    case Value::Kind::kCallable:
      out->append("<function " + v.callable().name + ">");
      return;
    case Value::Kind::kIterator:
      out->append("<" + v.iterator().name + ">");
      return;
    case Value::Kind::kUndefined:
      out->append("Undefined");
      return;
    default:
      out->append(ToStr(v, max));
      return;
  }
}

void AppendJsonString(std::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const uint32_t cp = NextCodePoint(s, &i);
    switch (cp) {
      case '"':
        out->append("\\\"");
        continue;
      case '\\':
        out->append("\\\\");
        continue;
      case '\n':
        out->append("\\n");
        continue;
      case '\r':
        out->append("\\r");
        continue;
      case '\t':
        out->append("\\t");
        continue;
      case '\b':
        out->append("\\b");
        continue;
      case '\f':
        out->append("\\f");
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      out->append(fmt::format("\\u{:04x}", cp));
    } else if (ensure_ascii && cp >= 0x80) {
      if (cp >= 0x10000) {
        const uint32_t c = cp - 0x10000;
        out->append(fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)));
      } else {
        out->append(fmt::format("\\u{:04x}", cp));
      }
    } else {
      out->append(s.substr(start, i - start));
    }
  }
  out->push_back('"');
}

Result<std::string> JsonKey(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::kString:
      return k.str();
    case Value::Kind::kBool:
      return std::string(k.as_bool() ? "true" : "false");
    case Value::Kind::kNone:
      return std::string("null");
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
      return ToStr(k, SIZE_MAX);
    default:
      return Errorf("keys must be str, int, float, bool or None, not {}", TypeName(k));
  }
}

Status ToJsonImpl(const Value& v, const JsonFormat& f, int level, size_t max, std::string* out) {
  if (out->size() > max) return Errorf("tojson output exceeds {} bytes", max);
  auto newline = [&](int lvl) {
    if (!f.pretty) return;
    out->push_back('\n');
    for (int i = 0; i < lvl; ++i) out->append(f.indent);
  };
  switch (v.kind()) {
    case Value::Kind::kNone:
      out->append("null");
      return Status::Ok();
    case Value::Kind::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return Status::Ok();
    case Value::Kind::kInt:
      out->append(std::to_string(v.as_int()));
      return Status::Ok();
    case Value::Kind::kFloat: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out->append("NaN");
      } else if (std::isinf(d)) {
        out->append(d > 0 ? "Infinity" : "-Infinity");
      } else {
        out->append(PyFloatRepr(d));
      }
      return Status::Ok();
    }
    case Value::Kind::kString:
      AppendJsonString(v.str(), f.ensure_ascii, out);
      return Status::Ok();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const List& items = v.list();
      if (items.empty()) {
        out->append("[]");
        return Status::Ok();
      }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->append(f.item_sep);
        newline(level + 1);
        FS_RETURN_IF_ERROR(ToJsonImpl(items[i], f, level + 1, max, out));
      }
      newline(level);
      out->push_back(']');
      return Status::Ok();
    }
    case Value::Kind::kDict: {
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [k, val] : v.dict().items()) {
        if (f.sort_keys && !k.is_string())
          return Errorf("tojson(sort_keys=true) needs string keys, got {}", TypeName(k));
        FS_ASSIGN_OR_RETURN(std::string key, JsonKey(k));
        entries.emplace_back(std::move(key), &val);
      }
      if (f.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      if (entries.empty()) {
        out->append("{}");
        return Status::Ok();
      }
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out->append(f.item_sep);
        newline(level + 1);
        AppendJsonString(entries[i].first, f.ensure_ascii, out);
        out->append(f.key_sep);
        FS_RETURN_IF_ERROR(ToJsonImpl(*entries[i].second, f, level + 1, max, out));
      }
      newline(level);
      out->push_back('}');
      return Status::Ok();
    }
    default:
      return Errorf("Object of type {} is not JSON serializable", TypeName(v));
  }
}

}  // namespace

Value Value::Undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.ptr_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::Float(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}

Value Value::Str(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Value Value::MakeList(List items) {
  Value v;
  v.kind_ = Kind::kList;
  v.depth_ = MaxDepth(items) + 1;
  v.ptr_ = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::MakeTuple(List items) {
  Value v = MakeList(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::MakeDict(Dict dict) {
  Value v;
  v.kind_ = Kind::kDict;
  uint32_t d = 0;
  for (const auto& [k, val] : dict.items()) d = std::max({d, k.depth(), val.depth()});
  v.depth_ = d + 1;
  v.ptr_ = std::make_shared<Dict>(std::move(dict));
  return v;
}

Value Value::MakeNamespace(Namespace* ns) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.ptr_ = std::shared_ptr<void>(std::shared_ptr<void>(), ns);  // non-owning
  return v;
}

Value Value::MakeIterator(std::string name, uint32_t depth, std::function<Result<List>(Interp&)> produce) {
  Value v;
  v.kind_ = Kind::kIterator;
  v.depth_ = depth + 1;
  v.ptr_ = std::make_shared<Iterator>(Iterator{std::move(name), std::move(produce), false});
  return v;
}

Value Value::MakeCallable(std::string name, std::function<Result<Value>(Interp&, const CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.ptr_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

std::string Value::undefined_hint() const {
  if (kind_ == Kind::kUndefined && ptr_) return *std::static_pointer_cast<const std::string>(ptr_);
  return "value is undefined";
}

const Value* Dict::Find(const Value& key) const {
  for (const auto& [k, v] : items_) {
    if (Equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

void Dict::Set(Value key, Value value) {
  for (auto& [k, v] : items_) {
    if (Equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

void Dict::Append(Value key, Value value) { items_.emplace_back(std::move(key), std::move(value)); }

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_double() != 0.0;
    case Value::Kind::kString:
      return !v.str().empty();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return !v.list().empty();
    case Value::Kind::kDict:
      return v.dict().size() != 0;
    default:
      return true;
  }
}

bool Equals(const Value& a, const Value& b, uint64_t* work) {
  if (work != nullptr) ++*work;
  if (a.kind() == b.kind() && a.identity() != nullptr && a.identity() == b.identity()) return true;
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      if (work != nullptr) *work += a.str().size() >> 8;
      return a.str() == b.str();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const List& x = a.list();
      const List& y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i], work)) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().items()) {
        const Value* other = b.dict().Find(k);
        if (work != nullptr) *work += b.dict().size();
        if (other == nullptr || !Equals(v, *other, work)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

Result<int> Compare(const Value& a, const Value& b, uint64_t* work) {
  if (work != nullptr) ++*work;
  if (a.is_undefined()) return Status::Error(a.undefined_hint());
  if (b.is_undefined()) return Status::Error(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    const double x = a.as_double();
    const double y = b.as_double();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    if (work != nullptr) *work += std::min(a.str().size(), b.str().size()) >> 8;
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && a.is_sequence()) {
    const List& x = a.list();
    const List& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i], work)) continue;
      return Compare(x[i], y[i], work);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return Errorf("cannot order '{}' and '{}'", TypeName(a), TypeName(b));
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kTuple:
      return "tuple";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kCallable:
      return "function";
    case Value::Kind::kIterator:
      return "generator";
  }
  return "object";
}

std::string ToStr(const Value& v, size_t max_bytes) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.as_bool() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.as_int());
    case Value::Kind::kFloat:
      return PyFloatRepr(v.as_double());
    case Value::Kind::kString:
      return v.str();
    default:
      return Repr(v, max_bytes);
  }
}

std::string Repr(const Value& v, size_t max_bytes) {
  std::string out;
  ReprImpl(v, 0, max_bytes, &out);
  return out;
}

Result<std::string> ToJson(const Value& v, const JsonFormat& format, size_t max_bytes) {
  std::string out;
  FS_RETURN_IF_ERROR(ToJsonImpl(v, format, 0, max_bytes, &out));
  if (out.size() > max_bytes) return Errorf("tojson output exceeds {} bytes", max_bytes);
  return out;
}

Result<Value> FromJson(const nlohmann::ordered_json& j, uint32_t max_depth) {
  using J = nlohmann::ordered_json;
  switch (j.type()) {
    case J::value_t::null:
      return Value::None();
    case J::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case J::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case J::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Errorf("context integer {} does not fit int64", u);
      return Value::Int(static_cast<int64_t>(u));
    }
    case J::value_t::number_float:
      return Value::Float(j.get<double>());
    case J::value_t::string:
      return Value::Str(j.get<std::string>());
    case J::value_t::array:
    case J::value_t::object: {
      if (max_depth == 0) return Status::Error("context JSON nests deeper than the template limit");
      if (j.is_array()) {
        List items;
        items.reserve(j.size());
        for (const auto& e : j) {
          FS_ASSIGN_OR_RETURN(Value item, FromJson(e, max_depth - 1));
          items.push_back(std::move(item));
        }
        return Value::MakeList(std::move(items));
      }
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) {
        FS_ASSIGN_OR_RETURN(Value item, FromJson(it.value(), max_depth - 1));
        d.Append(Value::Str(it.key()), std::move(item));
      }
      return Value::MakeDict(std::move(d));
    }
    default:
      return Status::Error("context JSON holds a binary value, which templates cannot read");
  }
}

}  // namespace flashstream::jinja
