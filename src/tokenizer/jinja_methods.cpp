// Attribute access with the Python methods templates call on str, dict and list, plus the
// template globals (range, namespace, dict, raise_exception, strftime_now).
#include <fmt/format.h>  // fmt::format for messages

#include <ctime>  // std::strftime, gmtime_r, localtime_r

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

// jinja2's sandbox caps range() at this many items.
constexpr int64_t kMaxRange = 100000;

bool OneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

Value Unsafe(std::string_view name, std::string_view type) {
  return Value::Undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe", name, type));
}

Result<std::string> StrArg(const ArgReader& r, size_t i, std::string_view what) {
  const Value* v = r.Get(i);
  if (v == nullptr) return Errorf("{}: missing argument", what);
  if (!v->is_string()) return Errorf("{}: expected a string argument, got {}", what, TypeName(*v));
  return v->str();
}

Result<int64_t> IntArg(const ArgReader& r, size_t i, int64_t dflt, std::string_view what) {
  const Value* v = r.Get(i);
  if (v == nullptr || v->is_none()) return dflt;
  if (!v->is_int()) return Errorf("{}: expected an integer argument, got {}", what, TypeName(*v));
  return v->as_int();
}

Result<Value> StrList(Interp& in, const std::vector<std::string_view>& parts) {
  List out;
  out.reserve(parts.size());
  for (std::string_view p : parts) out.push_back(Value::Str(std::string(p)));
  FS_RETURN_IF_ERROR(in.Charge(out.size() * sizeof(Value)));
  return Value::MakeList(std::move(out));
}

// str.split / str.rsplit.
std::vector<std::string_view> Split(std::string_view s, const std::string* sep, int64_t maxsplit, bool from_right) {
  std::vector<std::string_view> parts;
  if (sep != nullptr) {
    if (!from_right) {
      size_t start = 0;
      for (size_t at; (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) &&
                      (at = s.find(*sep, start)) != std::string_view::npos;) {
        parts.push_back(s.substr(start, at - start));
        start = at + sep->size();
      }
      parts.push_back(s.substr(start));
      return parts;
    }
    size_t end = s.size();
    for (size_t at; (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) && end >= sep->size() &&
                    (at = s.rfind(*sep, end - sep->size())) != std::string_view::npos;) {
      parts.insert(parts.begin(), s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.insert(parts.begin(), s.substr(0, end));
    return parts;
  }
  // Runs of whitespace; the remainder after maxsplit keeps its inner and far-end spaces.
  const std::vector<size_t> off = CodePointOffsets(s);
  const size_t n = off.size() - 1;
  auto space_at = [&](size_t k) {
    size_t p = off[k];
    return IsPySpace(NextCodePoint(s, &p));
  };
  if (!from_right) {
    size_t k = 0;
    while (true) {
      while (k < n && space_at(k)) ++k;
      if (k == n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(s.substr(off[k]));
        break;
      }
      const size_t w = k;
      while (k < n && !space_at(k)) ++k;
      parts.push_back(s.substr(off[w], off[k] - off[w]));
    }
    return parts;
  }
  size_t k = n;
  while (true) {
    while (k > 0 && space_at(k - 1)) --k;
    if (k == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.insert(parts.begin(), s.substr(0, off[k]));
      break;
    }
    const size_t w = k;
    while (k > 0 && !space_at(k - 1)) --k;
    parts.insert(parts.begin(), s.substr(off[k], off[w] - off[k]));
  }
  return parts;
}

bool AllCodePoints(std::string_view s, bool (*pred)(uint32_t)) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    if (!pred(NextCodePoint(s, &i))) return false;
  }
  return true;
}

// str.format with "{}", "{0}", "{name}", "{{", "}}" and !r / !s conversions.
Result<Value> StrFormat(Interp& in, const std::string& f, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') ++i;
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = f.find('}', i);
    if (close == std::string::npos) return Status::Error("str.format: single '{' encountered in format string");
    std::string field = f.substr(i + 1, close - i - 1);
    i = close;
    char conv = 's';
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) return Status::Error("str.format: bad conversion");
      conv = field[bang + 1];
      field.resize(bang);
    }
    if (field.find(':') != std::string::npos) return Status::Error("str.format: format specs are not supported");
    const Value* v = nullptr;
    if (field.empty() || (field[0] >= '0' && field[0] <= '9')) {
      const size_t idx = field.empty() ? auto_index++ : static_cast<size_t>(std::strtoul(field.c_str(), nullptr, 10));
      if (idx < a.args.size()) v = &a.args[idx];
    } else {
      for (const auto& [k, val] : a.kwargs) {
        if (k == field) v = &val;
      }
    }
    if (v == nullptr) return Errorf("str.format: no argument for field '{}'", field);
    if (conv == 'r') {
      out += Repr(*v, in.limits().max_output_bytes);
    } else {
      FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, *v));
      out += s;
    }
    if (out.size() > in.limits().max_output_bytes) return Status::Error("str.format: result exceeds the size limit");
  }
  return NewStr(in, std::move(out));
}

Result<Value> StrMethod(Interp& in, const std::string& s, const std::string& name, const CallArgs& a) {
  FS_RETURN_IF_ERROR(in.Step(s.size() >> 10));
  if (name == "format") return StrFormat(in, s, a);
  if (OneOf(name, {"strip", "lstrip", "rstrip"})) {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"chars"}));
    const Value* chars = r.Get(0);
    if (chars != nullptr && !chars->is_none() && !chars->is_string()) return Errorf("{} arg must be None or str", name);
    const std::string_view cs = chars != nullptr && chars->is_string() ? std::string_view(chars->str()) : "";
    const bool has = chars != nullptr && chars->is_string();
    return Value::Str(std::string(PyStrip(s, has ? &cs : nullptr, name != "rstrip", name != "lstrip")));
  }
  if (OneOf(name, {"upper", "lower", "title", "capitalize"})) {
    FS_RETURN_IF_ERROR(ArgReader::Bind(name, a, {}).status());
    std::string out = name == "upper"   ? PyUpper(s)
                      : name == "lower" ? PyLower(s)
                      : name == "title" ? PyTitle(s)
                                        : PyCapitalize(s);
    return NewStr(in, std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"prefix"}));
    const Value* p = r.Get(0);
    if (p == nullptr) return Errorf("{} takes one argument", name);
    const List single{*p};
    const List& options = p->kind() == Value::Kind::kTuple ? p->list() : single;
    for (const Value& o : options) {
      if (!o.is_string()) return Errorf("{} first arg must be str or a tuple of str, not {}", name, TypeName(o));
      const std::string& x = o.str();
      const bool hit =
          x.size() <= s.size() &&
          (name == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
      if (hit) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "split" || name == "rsplit") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"sep", "maxsplit"}));
    const Value* sep = r.Get(0);
    if (sep != nullptr && !sep->is_none() && !sep->is_string()) return Errorf("{}: sep must be None or str", name);
    const std::string* sep_str = sep != nullptr && sep->is_string() ? &sep->str() : nullptr;
    if (sep_str != nullptr && sep_str->empty()) return Status::Error("empty separator");
    FS_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(r, 1, -1, name));
    return StrList(in, Split(s, sep_str, maxsplit, name == "rsplit"));
  }
  if (name == "splitlines") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"keepends"}));
    return StrList(in, PySplitLines(s, r.Get(0) != nullptr && Truthy(*r.Get(0))));
  }
  if (name == "replace") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"old", "new", "count"}));
    FS_ASSIGN_OR_RETURN(std::string from, StrArg(r, 0, "replace"));
    FS_ASSIGN_OR_RETURN(std::string to, StrArg(r, 1, "replace"));
    FS_ASSIGN_OR_RETURN(int64_t count, IntArg(r, 2, -1, "replace"));
    CallArgs fa;
    fa.args = {Value::Str(from), Value::Str(to), Value::Int(count)};
    return FindFilter("replace")(in, Value::Str(s), fa);
  }
  if (OneOf(name, {"find", "rfind", "index", "rindex", "count"})) {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"sub"}));
    FS_ASSIGN_OR_RETURN(std::string sub, StrArg(r, 0, name));
    if (name == "count") {
      if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value::Int(n);
    }
    const size_t at = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") return Status::Error("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, at))));
  }
  if (name == "join") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"iterable"}));
    if (r.Get(0) == nullptr) return Status::Error("join takes one argument");
    FS_ASSIGN_OR_RETURN(List items, IterItems(in, *r.Get(0)));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        return Errorf("sequence item {}: expected str instance, {} found", i, TypeName(items[i]));
      if (i > 0) out += s;
      out += items[i].str();
      if (out.size() > in.limits().max_output_bytes) return Status::Error("join: result exceeds the size limit");
    }
    return NewStr(in, std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"affix"}));
    FS_ASSIGN_OR_RETURN(std::string x, StrArg(r, 0, name));
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value::Str(s.substr(x.size()));
    if (name == "removesuffix" && x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
      return Value::Str(s.substr(0, s.size() - x.size()));
    }
    return Value::Str(s);
  }
  if (OneOf(name, {"isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper"})) {
    FS_RETURN_IF_ERROR(ArgReader::Bind(name, a, {}).status());
    auto digit = [](uint32_t c) { return c >= '0' && c <= '9'; };
    auto alpha = [](uint32_t c) {
      return (c < 0x80 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) ||
             (c >= 0xAA && !IsPySpace(c) && c != 0xD7 && c != 0xF7);
    };
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Value::Bool(AllCodePoints(s, digit));
    if (name == "isalpha") return Value::Bool(AllCodePoints(s, alpha));
    if (name == "isalnum")
      return Value::Bool(AllCodePoints(s, [](uint32_t c) {
        return (c >= '0' && c <= '9') || (c < 0x80 && (c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
               (c >= 0xAA && !IsPySpace(c));
      }));
    if (name == "isspace") return Value::Bool(AllCodePoints(s, IsPySpace));
    bool cased = false, ok = true;
    for (size_t i = 0; i < s.size();) {
      const uint32_t c = NextCodePoint(s, &i);
      if (name == "islower" ? IsUpperCp(c) : IsLowerCp(c)) ok = false;
      if (IsCased(c)) cased = true;
    }
    return Value::Bool(ok && cased);
  }
  return Errorf("str method '{}' is not supported in chat templates", name);
}

Result<Value> DictMethod(Interp& in, const Value& d, const std::string& name, const CallArgs& a) {
  if (name == "get") {
    FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"key", "default"}));
    if (r.Get(0) == nullptr) return Status::Error("get expected at least 1 argument, got 0");
    if (const Value* v = d.dict().Find(*r.Get(0))) return *v;
    return r.Get(1) != nullptr ? *r.Get(1) : Value::None();
  }
  FS_RETURN_IF_ERROR(ArgReader::Bind(name, a, {}).status());
  if (name == "copy") return d;
  FS_RETURN_IF_ERROR(in.Charge(d.dict().size() * sizeof(Value)));
  List out;
  for (const auto& [k, v] : d.dict().items()) {
    if (name == "keys") {
      out.push_back(k);
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::MakeTuple({k, v}));
    }
  }
  return Value::MakeList(std::move(out));
}

Result<Value> ListMethod(Interp& in, const Value& l, const std::string& name, const CallArgs& a) {
  if (name == "copy") return l;
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(name, a, {"value"}));
  if (r.Get(0) == nullptr) return Errorf("{}() takes exactly one argument", name);
  uint64_t work = 0;
  int64_t count = 0;
  for (size_t i = 0; i < l.list().size(); ++i) {
    const bool eq = Equals(l.list()[i], *r.Get(0), &work);
    FS_RETURN_IF_ERROR(in.Step(work / 4));
    work = 0;
    if (!eq) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") return Status::Error("list.index(x): x not in list");
  return Value::Int(count);
}

Value BindMethod(const Value& obj, std::string_view name,
                 Result<Value> (*impl)(Interp&, const Value&, const std::string&, const CallArgs&)) {
  std::string n(name);
  return Value::MakeCallable(n, [obj, n, impl](Interp& in, const CallArgs& a) { return impl(in, obj, n, a); });
}

Result<Value> StrMethodOf(Interp& in, const Value& obj, const std::string& name, const CallArgs& a) {
  return StrMethod(in, obj.str(), name, a);
}

Result<Value> Range(Interp& in, const CallArgs& a) {
  if (!a.kwargs.empty()) return Status::Error("range() takes no keyword arguments");
  if (a.args.empty() || a.args.size() > 3) return Errorf("range expected 1 to 3 arguments, got {}", a.args.size());
  for (const Value& v : a.args) {
    if (!v.is_int()) return Errorf("'{}' object cannot be interpreted as an integer", TypeName(v));
  }
  const int64_t start = a.args.size() == 1 ? 0 : a.args[0].as_int();
  const int64_t stop = a.args.size() == 1 ? a.args[0].as_int() : a.args[1].as_int();
  const int64_t step = a.args.size() == 3 ? a.args[2].as_int() : 1;
  if (step == 0) return Status::Error("range() arg 3 must not be zero");
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 n = span <= 0 ? 0
                               : (span + (step > 0 ? step : -static_cast<__int128>(step)) - 1) /
                                     (step > 0 ? step : -static_cast<__int128>(step));
  if (n > kMaxRange) return Errorf("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", kMaxRange);
  FS_RETURN_IF_ERROR(in.Charge(static_cast<uint64_t>(n) * sizeof(Value)));
  List out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) out.push_back(Value::Int(start + i * step));
  return Value::MakeList(std::move(out));
}

// dict(mapping, **kw) and namespace(mapping, **kw) share their argument form.
Result<Dict> MappingArgs(const CallArgs& a, std::string_view fn) {
  if (a.args.size() > 1) return Errorf("{}() expected at most 1 positional argument, got {}", fn, a.args.size());
  Dict d;
  if (!a.args.empty()) {
    if (!a.args[0].is_dict()) return Errorf("{}() positional argument must be a dict, got {}", fn, TypeName(a.args[0]));
    d = a.args[0].dict();
  }
  for (const auto& [k, v] : a.kwargs) d.Set(Value::Str(k), v);
  return d;
}

Result<Value> MakeNamespace(Interp& in, const CallArgs& a) {
  FS_ASSIGN_OR_RETURN(Dict d, MappingArgs(a, "namespace"));
  for (const auto& [k, v] : d.items()) {
    if (k.is_string() && !k.str().empty() && k.str()[0] == '_') {
      return Errorf("namespace attribute '{}' may not start with '_'", k.str());
    }
  }
  FS_RETURN_IF_ERROR(in.Charge(d.size() * sizeof(Value)));
  return in.NewNamespace(std::move(d));
}

Result<Value> MakeDict(Interp& in, const CallArgs& a) {
  FS_ASSIGN_OR_RETURN(Dict d, MappingArgs(a, "dict"));
  FS_RETURN_IF_ERROR(in.Charge(d.size() * sizeof(Value)));
  return Value::MakeDict(std::move(d));
}

Result<Value> RaiseException(Interp& in, const CallArgs& a) {
  const std::string msg = a.args.empty() ? std::string() : ToStr(a.args[0], in.limits().max_output_bytes);
  return Errorf("raise_exception: {}", msg);
}

Result<Value> StrftimeNow(Interp& in, const CallArgs& a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("strftime_now", a, {"format"}));
  FS_ASSIGN_OR_RETURN(std::string format, StrArg(r, 0, "strftime_now"));
  if (format.size() > 256) return Status::Error("strftime_now: format longer than 256 bytes");
  std::tm tm{};
  if (in.now_unix().has_value()) {
    const std::time_t t = static_cast<std::time_t>(*in.now_unix());
    gmtime_r(&t, &tm);
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  char buf[4096];
  const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &tm);
  if (n == 0 && !format.empty()) return Status::Error("strftime_now: formatted date is empty or too long");
  return Value::Str(std::string(buf, n));
}

}  // namespace

Value GetAttr(const Value& obj, std::string_view name) {
  Value attr = GetPyAttr(obj, name);
  if (attr.is_undefined() && obj.is_dict() && (name.empty() || name[0] != '_')) {
    if (const Value* v = obj.dict().Find(name)) return *v;
  }
  return attr;
}

Value GetPyAttr(const Value& obj, std::string_view name) {
  if (!name.empty() && name[0] == '_') {
    return Value::Undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe", name, TypeName(obj)));
  }
  switch (obj.kind()) {
    case Value::Kind::kString:
      if (OneOf(name, {"strip",      "lstrip",     "rstrip",       "upper",        "lower",   "title",
                       "capitalize", "startswith", "endswith",     "split",        "rsplit",  "splitlines",
                       "replace",    "find",       "rfind",        "index",        "rindex",  "count",
                       "join",       "format",     "removeprefix", "removesuffix", "isdigit", "isdecimal",
                       "isnumeric",  "isalpha",    "isalnum",      "isspace",      "islower", "isupper"})) {
        return BindMethod(obj, name, StrMethodOf);
      }
      return Value::Undefined(fmt::format("'str object' has no attribute '{}'", name));
    case Value::Kind::kDict:
      if (OneOf(name, {"get", "items", "keys", "values", "copy"})) return BindMethod(obj, name, DictMethod);
      if (OneOf(name, {"clear", "pop", "popitem", "setdefault", "update", "fromkeys"})) return Unsafe(name, "dict");
      return Value::Undefined(fmt::format("'dict object' has no attribute '{}'", name));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (OneOf(name, {"count", "index"}) || (name == "copy" && obj.kind() == Value::Kind::kList)) {
        return BindMethod(obj, name, ListMethod);
      }
      if (OneOf(name, {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"})) {
        return Unsafe(name, TypeName(obj));
      }
      return Value::Undefined(fmt::format("'{} object' has no attribute '{}'", TypeName(obj), name));
    case Value::Kind::kNamespace:
      if (const Value* v = obj.ns().attrs.Find(name)) return *v;
      return Value::Undefined(fmt::format("'Namespace object' has no attribute '{}'", name));
    default:
      return Value::Undefined(fmt::format("'{}' object has no attribute '{}'", TypeName(obj), name));
  }
}

Value FindGlobal(std::string_view name) {
  static const Value kRange = Value::MakeCallable("range", Range);
  static const Value kNamespace = Value::MakeCallable("namespace", MakeNamespace);
  static const Value kDict = Value::MakeCallable("dict", MakeDict);
  static const Value kRaise = Value::MakeCallable("raise_exception", RaiseException);
  static const Value kStrftime = Value::MakeCallable("strftime_now", StrftimeNow);
  if (name == "range") return kRange;
  if (name == "namespace") return kNamespace;
  if (name == "dict") return kDict;
  if (name == "raise_exception") return kRaise;
  if (name == "strftime_now") return kStrftime;
  return Value();
}

}  // namespace flashstream::jinja
