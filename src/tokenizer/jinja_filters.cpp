// Jinja filters used by chat templates, with jinja2's semantics (and transformers' tojson,
// which calls json.dumps with ensure_ascii=False). Filters that jinja2 implements as
// generators (map, select, unique, items, ...) return lazy single-use iterators here too.
#include <fmt/format.h>  // fmt::format for messages and round()

#include <algorithm>  // std::stable_sort, std::reverse
#include <cctype>     // std::isdigit
#include <cerrno>     // errno for strtoll range checks
#include <cmath>      // std::ceil, std::floor, std::nearbyint
#include <cstdlib>    // std::strtod, std::strtoll
#include <map>        // filter and test tables
#include <optional>   // std::optional for ParseFloat

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_text.h"

namespace flashstream::jinja {
namespace {

using Args = const CallArgs&;

bool Flag(const ArgReader& r, size_t i) { return r.Get(i) != nullptr && Truthy(*r.Get(i)); }

Result<List> Items(Interp& in, const Value& v) {
  FS_ASSIGN_OR_RETURN(List items, IterItems(in, v));
  FS_RETURN_IF_ERROR(in.Step(items.size()));
  return items;
}

Result<Value> NewList(Interp& in, List items) {
  FS_RETURN_IF_ERROR(in.Charge(items.size() * sizeof(Value)));
  return Value::MakeList(std::move(items));
}

// Defers `impl` (which returns a list) to the first iteration, as the jinja2 generator
// filter it mirrors does: until then the result is truthy, has no len() and cannot fail.
Result<Value> Lazy(const Value& v, Args a, FilterFn impl, const char* name) {
  uint32_t depth = v.depth();
  for (const Value& x : a.args) depth = std::max(depth, x.depth());
  for (const auto& [k, x] : a.kwargs) depth = std::max(depth, x.depth());
  return Value::MakeIterator(name, depth, [v, args = a, impl](Interp& in) -> Result<List> {
    FS_ASSIGN_OR_RETURN(Value r, impl(in, v, args));
    return r.list();
  });
}

// Follows a dotted attribute path ("a.b", "0") the way jinja2's make_attrgetter does.
Result<Value> AttrPath(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    FS_ASSIGN_OR_RETURN(cur,
                        GetItem(cur, numeric ? Value::Int(std::strtoll(part.c_str(), nullptr, 10)) : Value::Str(part)));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// Sort/compare key: optional attribute, lower-cased strings unless case-sensitive.
Result<Value> SortKey(const Value& item, const Value* attribute, bool case_sensitive) {
  Value key = item;
  if (attribute != nullptr && !attribute->is_none()) {
    FS_ASSIGN_OR_RETURN(key, AttrPath(item, ToStr(*attribute, 4096)));
  }
  if (!case_sensitive && key.is_string()) return Value::Str(PyLower(key.str()));
  return key;
}

Result<List> SortedList(Interp& in, List items, const Value* attribute, bool case_sensitive, bool reverse) {
  std::vector<std::pair<Value, size_t>> keyed;
  keyed.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    FS_ASSIGN_OR_RETURN(Value k, SortKey(items[i], attribute, case_sensitive));
    keyed.emplace_back(std::move(k), i);
  }
  Status err;
  uint64_t work = 0;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    if (!err.ok()) return false;
    Result<int> c = Compare(a.first, b.first, &work);
    if (!c.ok()) {
      err = c.status();
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  FS_RETURN_IF_ERROR(err);
  FS_RETURN_IF_ERROR(in.Step(work / 4));
  List out;
  out.reserve(items.size());
  for (const auto& [k, i] : keyed) out.push_back(std::move(items[i]));
  return out;
}

Result<Value> FTrim(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("trim", a, {"chars"}));
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  const Value* chars = r.Get(0);
  if (chars != nullptr && chars->is_string()) {
    const std::string_view cs = chars->str();
    return Value::Str(std::string(PyStrip(s, &cs, true, true)));
  }
  return Value::Str(std::string(PyStrip(s, nullptr, true, true)));
}

template <std::string (*F)(std::string_view)>
Result<Value> FCase(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("case filter", a, {}).status());
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  return NewStr(in, F(s));
}

// jinja2's title filter: upper-cases the first character after "-", whitespace, "(", "{",
// "[" or "<", lower-cases the rest (unlike str.title()).
std::string JinjaTitle(std::string_view s) {
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    const uint32_t cp = NextCodePoint(s, &i);
    const bool sep = IsPySpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    std::string one;
    AppendUtf8(cp, &one);
    out += sep ? one : (word_start ? PyUpper(one) : PyLower(one));
    word_start = sep;
  }
  return out;
}

Result<Value> FLength(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("length", a, {}).status());
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Value::Int(0);
    case Value::Kind::kString:
      FS_RETURN_IF_ERROR(in.Step(v.str().size() >> 10));
      return Value::Int(static_cast<int64_t>(CodePointCount(v.str())));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return Value::Int(static_cast<int64_t>(v.list().size()));
    case Value::Kind::kDict:
      return Value::Int(static_cast<int64_t>(v.dict().size()));
    default:
      return Errorf("object of type '{}' has no len()", TypeName(v));
  }
}

Result<Value> FDefault(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("default", a, {"default_value", "boolean"}));
  if (v.is_undefined() || (Flag(r, 1) && !Truthy(v))) return r.Get(0) != nullptr ? *r.Get(0) : Value::Str("");
  return v;
}

Result<Value> FJoin(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("join", a, {"d", "attribute"}));
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  std::string sep;
  if (r.Get(0) != nullptr) {
    FS_ASSIGN_OR_RETURN(sep, StrOf(in, *r.Get(0)));
  }
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (r.Get(1) != nullptr && !r.Get(1)->is_none()) {
      FS_ASSIGN_OR_RETURN(item, AttrPath(item, ToStr(*r.Get(1), 4096)));
    }
    if (i > 0) out += sep;
    FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, item));
    out += s;
    if (out.size() > in.limits().max_output_bytes) return Status::Error("join: result exceeds the size limit");
  }
  return NewStr(in, std::move(out));
}

Result<Value> FToJson(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonFormat f;
  f.ensure_ascii = Flag(r, 0);
  f.sort_keys = Flag(r, 3);
  if (const Value* indent = r.Get(1); indent != nullptr && !indent->is_none()) {
    f.pretty = true;
    f.item_sep = ",";
    if (indent->is_string()) {
      f.indent = indent->str();
    } else if (indent->is_int()) {
      f.indent.assign(static_cast<size_t>(std::clamp<int64_t>(indent->as_int(), 0, 64)), ' ');
    } else {
      return Errorf("tojson: indent must be an int or str, got {}", TypeName(*indent));
    }
  }
  if (const Value* sep = r.Get(2); sep != nullptr && !sep->is_none()) {
    if (!sep->is_sequence() || sep->list().size() != 2 || !sep->list()[0].is_string() || !sep->list()[1].is_string()) {
      return Status::Error("tojson: separators must be a pair of strings");
    }
    f.item_sep = sep->list()[0].str();
    f.key_sep = sep->list()[1].str();
  }
  FS_ASSIGN_OR_RETURN(std::string s, ToJson(v, f, in.limits().max_output_bytes));
  return NewStr(in, std::move(s));
}

Result<Value> FString(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("string", a, {}).status());
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  return Value::Str(std::move(s));
}

// Python float(str): optional spaces, sign, digits/inf/nan; nullopt if not a number.
std::optional<double> ParseFloat(const std::string& s) {
  const std::string t(PyStrip(s, nullptr, true, true));
  if (t.empty()) return std::nullopt;
  std::string clean;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '_' && i > 0 && i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(t[i + 1]))) {
      continue;
    }
    clean.push_back(t[i]);
  }
  if (clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;  // no hex floats in Python
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

Result<Value> FInt(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("int", a, {"default", "base"}));
  const Value dflt = r.Get(0) != nullptr ? *r.Get(0) : Value::Int(0);
  if (v.is_undefined()) return Status::Error(v.undefined_hint());
  if (v.is_int()) return Value::Int(v.as_int());
  if (v.kind() == Value::Kind::kFloat) {
    const double d = v.as_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return dflt;
    return Value::Int(static_cast<int64_t>(d));
  }
  if (!v.is_string()) return dflt;
  int64_t base = r.Get(1) != nullptr && r.Get(1)->is_int() ? r.Get(1)->as_int() : 10;
  std::string t(PyStrip(v.str(), nullptr, true, true));
  std::string digits;
  for (char c : t) {
    if (c != '_') digits.push_back(c);
  }
  if (!digits.empty() && base >= 2 && base <= 36) {
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
    if (errno == 0 && end == digits.c_str() + digits.size()) return Value::Int(x);
  }
  if (const auto d = ParseFloat(v.str()); d.has_value() && std::isfinite(*d) && std::fabs(*d) < 9.2e18) {
    return Value::Int(static_cast<int64_t>(*d));
  }
  return dflt;
}

Result<Value> FFloat(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("float", a, {"default"}));
  if (v.is_undefined()) return Status::Error(v.undefined_hint());
  if (v.is_number()) return Value::Float(v.as_double());
  if (v.is_string()) {
    if (const auto d = ParseFloat(v.str())) return Value::Float(*d);
  }
  return r.Get(0) != nullptr ? *r.Get(0) : Value::Float(0.0);
}

Result<Value> FFirst(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("first", a, {}).status());
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return items.front();
}

Result<Value> FLast(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("last", a, {}).status());
  if (v.kind() == Value::Kind::kIterator) return Status::Error("'generator' object is not reversible");
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
  return items.back();
}

Result<Value> FList(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("list", a, {}).status());
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  return NewList(in, std::move(items));
}

Result<Value> FItems(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("items", a, {}).status());
  if (v.is_undefined()) return Value::MakeList({});
  if (!v.is_dict()) return Errorf("can only get item pairs from a mapping, not {}", TypeName(v));
  List out;
  for (const auto& [k, val] : v.dict().items()) out.push_back(Value::MakeTuple({k, val}));
  return NewList(in, std::move(out));
}

Result<Value> FDictSort(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("dictsort", a, {"case_sensitive", "by", "reverse"}));
  if (!v.is_dict()) return Errorf("dictsort expects a mapping, got {}", TypeName(v));
  const bool by_value = r.Get(1) != nullptr && r.Get(1)->is_string() && r.Get(1)->str() == "value";
  List pairs;
  for (const auto& [k, val] : v.dict().items()) pairs.push_back(Value::MakeTuple({k, val}));
  const Value index = Value::Str(by_value ? "1" : "0");
  FS_ASSIGN_OR_RETURN(List sorted, SortedList(in, std::move(pairs), &index, Flag(r, 0), Flag(r, 2)));
  return NewList(in, std::move(sorted));
}

Result<Value> FReplace(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("replace", a, {"old", "new", "count"}));
  if (r.Get(0) == nullptr || r.Get(1) == nullptr) return Status::Error("replace needs 'old' and 'new'");
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  FS_ASSIGN_OR_RETURN(std::string from, StrOf(in, *r.Get(0)));
  FS_ASSIGN_OR_RETURN(std::string to, StrOf(in, *r.Get(1)));
  int64_t count = r.Get(2) != nullptr && r.Get(2)->is_int() ? r.Get(2)->as_int() : -1;
  std::string out;
  const size_t limit = in.limits().max_output_bytes;
  if (from.empty()) {  // Python inserts `to` around every code point
    for (size_t i = 0; i <= s.size();) {
      if (count != 0) {
        out += to;
        --count;
      }
      if (i == s.size()) break;
      const size_t start = i;
      NextCodePoint(s, &i);
      out.append(s, start, i - start);
      if (out.size() > limit) return Status::Error("replace: result exceeds the size limit");
    }
    return NewStr(in, std::move(out));
  }
  size_t start = 0;
  for (size_t at; count != 0 && (at = s.find(from, start)) != std::string::npos; --count) {
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
    if (out.size() > limit) return Status::Error("replace: result exceeds the size limit");
  }
  out.append(s, start, std::string::npos);
  return NewStr(in, std::move(out));
}

Result<Value> FReverse(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("reverse", a, {}).status());
  if (v.is_string()) {
    const std::vector<size_t> off = CodePointOffsets(v.str());
    std::string out;
    for (size_t k = off.size() - 1; k > 0; --k) out.append(v.str(), off[k - 1], off[k] - off[k - 1]);
    return NewStr(in, std::move(out));
  }
  const bool was_iterator = v.kind() == Value::Kind::kIterator;
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  std::reverse(items.begin(), items.end());
  if (was_iterator) return NewList(in, std::move(items));  // reversed() fails; jinja2 falls back to a list
  FS_RETURN_IF_ERROR(in.Charge(items.size() * sizeof(Value)));
  const uint32_t depth = v.depth();
  const char* name = v.kind() == Value::Kind::kList ? "list_reverseiterator object"
                     : v.is_dict()                  ? "dict_reversekeyiterator object"
                                                    : "reversed object";
  return Value::MakeIterator(name, depth, [items = std::move(items)](Interp&) -> Result<List> { return items; });
}

Result<Value> FSort(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("sort", a, {"reverse", "case_sensitive", "attribute"}));
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  FS_ASSIGN_OR_RETURN(List sorted, SortedList(in, std::move(items), r.Get(2), Flag(r, 1), Flag(r, 0)));
  return NewList(in, std::move(sorted));
}

Result<Value> FUnique(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("unique", a, {"case_sensitive", "attribute"}));
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  List out;
  List seen;
  uint64_t work = 0;
  for (const Value& item : items) {
    FS_ASSIGN_OR_RETURN(Value key, SortKey(item, r.Get(1), Flag(r, 0)));
    bool dup = false;
    for (size_t k = 0; k < seen.size() && !dup; ++k) dup = Equals(seen[k], key, &work);
    FS_RETURN_IF_ERROR(in.Step(work / 4));
    work = 0;
    if (dup) continue;
    seen.push_back(std::move(key));
    out.push_back(item);
  }
  return NewList(in, std::move(out));
}

template <bool kMax>
Result<Value> FMinMax(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind(kMax ? "max" : "min", a, {"case_sensitive", "attribute"}));
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  if (items.empty()) return Value::Undefined(fmt::format("No aggregated item, sequence was empty."));
  FS_ASSIGN_OR_RETURN(List sorted, SortedList(in, std::move(items), r.Get(1), Flag(r, 0), false));
  return kMax ? sorted.back() : sorted.front();
}

Result<Value> FSum(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("sum", a, {"attribute", "start"}));
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  Value total = r.Get(1) != nullptr ? *r.Get(1) : Value::Int(0);
  for (const Value& item : items) {
    Value x = item;
    if (r.Get(0) != nullptr && !r.Get(0)->is_none()) {
      FS_ASSIGN_OR_RETURN(x, AttrPath(item, ToStr(*r.Get(0), 4096)));
    }
    FS_ASSIGN_OR_RETURN(total, BinaryOp(in, BinOp::kAdd, total, x));
  }
  return total;
}

Result<Value> FAbs(Interp&, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("abs", a, {}).status());
  if (v.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(v.as_double()));
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) return Status::Error("integer overflow in abs");
    return Value::Int(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  return Errorf("bad operand type for abs(): '{}'", TypeName(v));
}

Result<Value> FRound(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("round", a, {"precision", "method"}));
  if (!v.is_number()) return Errorf("round expects a number, got {}", TypeName(v));
  const int64_t p = r.Get(0) != nullptr && r.Get(0)->is_int() ? std::clamp<int64_t>(r.Get(0)->as_int(), -300, 300) : 0;
  const std::string method = r.Get(1) != nullptr && r.Get(1)->is_string() ? r.Get(1)->str() : "common";
  if (method == "common" && p >= 0 && v.is_int()) return Value::Int(v.as_int());  // round(int) stays int
  const double x = v.as_double();
  if (method == "ceil" || method == "floor") {
    const double m = std::pow(10.0, static_cast<double>(p));
    return Value::Float((method == "ceil" ? std::ceil(x * m) : std::floor(x * m)) / m);
  }
  if (method != "common") return Status::Error("method must be common, ceil or floor");
  if (!std::isfinite(x)) return Value::Float(x);
  if (p <= 0) {
    const double m = std::pow(10.0, static_cast<double>(-p));
    return Value::Float(std::nearbyint(x / m) * m);
  }
  // Correctly rounded decimal conversion, as Python's round() does.
  return Value::Float(std::strtod(fmt::format("{:.{}f}", x, p).c_str(), nullptr));
}

Result<Value> FIndent(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("indent", a, {"width", "first", "blank"}));
  if (!v.is_string()) return Errorf("indent expects a string, got {}", TypeName(v));
  std::string pad(4, ' ');
  if (const Value* w = r.Get(0)) {
    if (w->is_string()) {
      pad = w->str();
    } else if (w->is_int()) {
      pad.assign(static_cast<size_t>(std::clamp<int64_t>(w->as_int(), 0, 256)), ' ');
    }
  }
  const std::string s = v.str() + "\n";
  const std::vector<std::string_view> lines = PySplitLines(s, false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (Flag(r, 2) || !lines[i].empty()) out += pad;
    }
    out += lines[i];
    if (out.size() > in.limits().max_output_bytes) return Status::Error("indent: result exceeds the size limit");
  }
  if (Flag(r, 1)) out = pad + out;
  return NewStr(in, std::move(out));
}

Result<Value> FCenter(Interp& in, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("center", a, {"width"}));
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  const int64_t width = r.Get(0) != nullptr && r.Get(0)->is_int() ? r.Get(0)->as_int() : 80;
  const int64_t len = static_cast<int64_t>(CodePointCount(s));
  if (width <= len) return Value::Str(s);
  const int64_t total = std::min<int64_t>(width - len, static_cast<int64_t>(in.limits().max_output_bytes));
  const int64_t left = total / 2 + (total & width & 1);
  return NewStr(in,
                std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
}

Result<Value> FEscape(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("escape", a, {}).status());
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return NewStr(in, std::move(out));
}

// Markup(value): the string form, marked safe (autoescape is off, so just the string).
Result<Value> FSafe(Interp& in, const Value& v, Args a) {
  FS_RETURN_IF_ERROR(ArgReader::Bind("safe", a, {}).status());
  FS_ASSIGN_OR_RETURN(std::string s, StrOf(in, v));
  return Value::Str(std::move(s));
}

Result<Value> FAttr(Interp&, const Value& v, Args a) {
  FS_ASSIGN_OR_RETURN(ArgReader r, ArgReader::Bind("attr", a, {"name"}));
  if (r.Get(0) == nullptr || !r.Get(0)->is_string()) return Status::Error("attr needs a string name");
  if (v.is_undefined()) return Status::Error(v.undefined_hint());
  return GetPyAttr(v, r.Get(0)->str());
}

Result<Value> FFormat(Interp& in, const Value& v, Args a) {
  if (!v.is_string()) return Errorf("format expects a string, got {}", TypeName(v));
  if (!a.kwargs.empty()) return Status::Error("format: keyword arguments are not supported");
  return PercentFormat(in, v.str(), a.args.size() == 1 ? a.args[0] : Value::MakeTuple(a.args));
}

// map(attribute=..., default=...) or map('filter', args...). A falsy input maps to nothing.
Result<Value> FMap(Interp& in, const Value& v, Args a) {
  if (!Truthy(v)) return Value::MakeList({});
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  List out;
  out.reserve(items.size());
  if (a.args.empty()) {
    const Value* attribute = nullptr;
    const Value* dflt = nullptr;
    for (const auto& [k, val] : a.kwargs) {
      if (k == "attribute") {
        attribute = &val;
      } else if (k == "default") {
        dflt = &val;
      } else {
        return Errorf("map: unexpected keyword argument '{}'", k);
      }
    }
    if (attribute == nullptr) return Status::Error("map: needs a filter name or attribute=");
    for (const Value& item : items) {
      FS_ASSIGN_OR_RETURN(Value x, AttrPath(item, ToStr(*attribute, 4096)));
      out.push_back(x.is_undefined() && dflt != nullptr ? *dflt : x);
    }
    return NewList(in, std::move(out));
  }
  if (!a.args[0].is_string()) return Status::Error("map: the filter name must be a string");
  const FilterFn f = FindFilter(a.args[0].str());
  if (f == nullptr) return Errorf("No filter named '{}'", a.args[0].str());
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const Value& item : items) {
    FS_ASSIGN_OR_RETURN(Value x, f(in, item, rest));
    out.push_back(std::move(x));
  }
  return NewList(in, std::move(out));
}

// select/reject (by_attr=false) and selectattr/rejectattr (by_attr=true). A falsy input
// selects nothing.
template <bool kSelect, bool kByAttr>
Result<Value> FSelect(Interp& in, const Value& v, Args a) {
  if (!Truthy(v)) return Value::MakeList({});
  FS_ASSIGN_OR_RETURN(List items, Items(in, v));
  size_t next = 0;
  std::string attr;
  if (kByAttr) {
    if (a.args.empty() || !a.args[0].is_string()) return Status::Error("selectattr/rejectattr need an attribute name");
    attr = a.args[0].str();
    next = 1;
  }
  TestFn test = nullptr;
  CallArgs rest;
  if (next < a.args.size()) {
    if (!a.args[next].is_string()) return Status::Error("select: the test name must be a string");
    test = FindTest(a.args[next].str());
    if (test == nullptr) return Errorf("No test named '{}'", a.args[next].str());
    rest.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(next) + 1, a.args.end());
    rest.kwargs = a.kwargs;
  }
  List out;
  for (const Value& item : items) {
    Value subject = item;
    if (kByAttr) {
      FS_ASSIGN_OR_RETURN(subject, AttrPath(item, attr));
    }
    bool ok = false;
    if (test != nullptr) {
      FS_ASSIGN_OR_RETURN(ok, test(in, subject, rest));
    } else {
      ok = Truthy(subject);
    }
    if (ok == kSelect) out.push_back(item);
  }
  return NewList(in, std::move(out));
}

}  // namespace

Result<ArgReader> ArgReader::Bind(std::string_view fn_name, const CallArgs& args,
                                  std::initializer_list<std::string_view> params) {
  ArgReader r;
  r.bound_.assign(params.size(), nullptr);
  if (args.args.size() > params.size()) {
    return Errorf("{}() takes at most {} arguments, got {}", fn_name, params.size(), args.args.size());
  }
  for (size_t i = 0; i < args.args.size(); ++i) r.bound_[i] = &args.args[i];
  for (const auto& [key, value] : args.kwargs) {
    size_t i = 0;
    for (std::string_view p : params) {
      if (p == key) break;
      ++i;
    }
    if (i == params.size()) return Errorf("{}() got an unexpected keyword argument '{}'", fn_name, key);
    if (r.bound_[i] != nullptr) return Errorf("{}() got multiple values for argument '{}'", fn_name, key);
    r.bound_[i] = &value;
  }
  return r;
}

FilterFn FindFilter(std::string_view name) {
  static const std::map<std::string_view, FilterFn> kFilters = {
      {"abs", FAbs},
      {"attr", FAttr},
      {"capitalize", FCase<PyCapitalize>},
      {"center", FCenter},
      {"count", FLength},
      {"d", FDefault},
      {"default", FDefault},
      {"dictsort", FDictSort},
      {"e", FEscape},
      {"escape", FEscape},
      {"first", FFirst},
      {"float", FFloat},
      {"format", FFormat},
      {"indent", FIndent},
      {"int", FInt},
      {"items", [](Interp&, const Value& v, Args a) { return Lazy(v, a, FItems, "generator object do_items"); }},
      {"join", FJoin},
      {"last", FLast},
      {"length", FLength},
      {"list", FList},
      {"lower", FCase<PyLower>},
      {"map", [](Interp&, const Value& v, Args a) { return Lazy(v, a, FMap, "generator object sync_do_map"); }},
      {"max", FMinMax<true>},
      {"min", FMinMax<false>},
      {"reject", [](Interp&, const Value& v,
                    Args a) { return Lazy(v, a, FSelect<false, false>, "generator object select_or_reject"); }},
      {"rejectattr", [](Interp&, const Value& v,
                        Args a) { return Lazy(v, a, FSelect<false, true>, "generator object select_or_reject"); }},
      {"replace", FReplace},
      {"reverse", FReverse},
      {"round", FRound},
      {"safe", FSafe},
      {"select", [](Interp&, const Value& v,
                    Args a) { return Lazy(v, a, FSelect<true, false>, "generator object select_or_reject"); }},
      {"selectattr", [](Interp&, const Value& v,
                        Args a) { return Lazy(v, a, FSelect<true, true>, "generator object select_or_reject"); }},
      {"sort", FSort},
      {"string", FString},
      {"sum", FSum},
      {"title", FCase<JinjaTitle>},
      {"tojson", FToJson},
      {"trim", FTrim},
      {"unique",
       [](Interp&, const Value& v, Args a) { return Lazy(v, a, FUnique, "generator object sync_do_unique"); }},
      {"upper", FCase<PyUpper>},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace flashstream::jinja
