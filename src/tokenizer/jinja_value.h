// Value: the data model of the chat-template interpreter, shaped after the Python objects
// that Jinja2 templates see (None, bool, int, float, str, list, tuple, dict, namespace,
// callables, and Jinja's Undefined). Containers are immutable once built and shared by
// pointer, so copying a Value is cheap; only Namespace is mutable (through `set ns.x = ..`).
// Values are thread-compatible: one render owns the values it creates.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>  // nlohmann::ordered_json: render inputs
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace flashstream::jinja {

class Value;
class Dict;
class Interp;
struct Namespace;
struct Callable;
struct CallArgs;
using List = std::vector<Value>;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kCallable,
    kIterator,  // a Python generator/iterator (map, select, ...): lazy, single use, no len()
  };

  Value() = default;  // undefined with no hint
  // `hint` is the error raised when the undefined value is used (e.g. "'x' is undefined").
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value Str(std::string s);
  static Value MakeList(List items);
  static Value MakeTuple(List items);
  static Value MakeDict(Dict dict);
  // Borrows `ns`: namespaces are owned by the render (see Interp) so that cycles cannot leak.
  static Value MakeNamespace(Namespace* ns);
  static Value MakeCallable(std::string name, std::function<Result<Value>(Interp&, const CallArgs&)> fn);
  // `produce` runs on first iteration; `depth` is the nesting of the values it captured.
  static Value MakeIterator(std::string name, uint32_t depth, std::function<Result<List>(Interp&)> produce);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_int() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }  // Python: bool is int
  bool is_number() const { return is_int() || kind_ == Kind::kFloat; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }

  // Accessors; each requires the matching kind.
  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? static_cast<int64_t>(b_) : i_; }
  double as_double() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(as_int()); }
  const std::string& str() const { return *std::static_pointer_cast<const std::string>(ptr_); }
  const List& list() const { return *std::static_pointer_cast<const List>(ptr_); }
  const Dict& dict() const { return *std::static_pointer_cast<const Dict>(ptr_); }
  Namespace& ns() const { return *std::static_pointer_cast<Namespace>(ptr_); }
  const Callable& callable() const { return *std::static_pointer_cast<const Callable>(ptr_); }
  struct Iterator& iterator() const {
    return *std::static_pointer_cast<struct Iterator>(ptr_);
  }
  // The error message for using an undefined value.
  std::string undefined_hint() const;
  // Identity of shared containers (for `is sameas`); null for scalars.
  const void* identity() const { return ptr_.get(); }
  // Container nesting: 0 for scalars and namespaces, 1 + deepest element for list/tuple/dict.
  uint32_t depth() const { return depth_; }

 private:
  Kind kind_ = Kind::kUndefined;
  uint32_t depth_ = 0;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<void> ptr_;
};

// Insertion-ordered mapping with Python key equality (1 == 1.0 == True).
class Dict {
 public:
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  void Set(Value key, Value value);     // replaces an equal key, else appends
  void Append(Value key, Value value);  // precondition: no equal key is present
  void Reserve(size_t n) { items_.reserve(n); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<Value, Value>> items_;
};

// jinja2's namespace(): attributes settable with `{% set ns.attr = value %}`.
struct Namespace {
  Dict attrs;
};

// A generator: produces its items once, when first iterated (later iterations are empty).
struct Iterator {
  std::string name;  // Python repr without '<>' and address: "generator object sync_do_map"
  std::function<Result<List>(Interp&)> produce;
  bool consumed = false;
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// A builtin function, bound method or macro.
struct Callable {
  std::string name;
  std::function<Result<Value>(Interp&, const CallArgs&)> fn;
};

bool Truthy(const Value& v);
// Python ==. If `work` is given, adds the cost of the comparison to it: one unit per value
// visited plus one per 256 string bytes compared (nested containers can make it large).
bool Equals(const Value& a, const Value& b, uint64_t* work = nullptr);
// Python ordering: numbers, strings, sequences (lexicographic). Error for other mixes.
// `work` as for Equals.
Result<int> Compare(const Value& a, const Value& b, uint64_t* work = nullptr);
std::string TypeName(const Value& v);  // Python type name: "str", "dict", "NoneType", ...
// Python str() and repr(); undefined renders as "". Containers stop expanding once the text
// passes `max_bytes`, so a result longer than `max_bytes` means "too long" to the caller.
std::string ToStr(const Value& v, size_t max_bytes);
std::string Repr(const Value& v, size_t max_bytes);

// Python's json.dumps options as transformers' tojson filter exposes them.
struct JsonFormat {
  bool ensure_ascii = false;
  bool pretty = false;  // indent given: newline + indent per level
  std::string indent;   // per-level indent when pretty
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
// json.dumps(v); fails on values JSON cannot hold and on output longer than `max_bytes`.
Result<std::string> ToJson(const Value& v, const JsonFormat& format, size_t max_bytes);

// Converts render inputs; nesting deeper than `max_depth` is an error.
Result<Value> FromJson(const nlohmann::ordered_json& j, uint32_t max_depth);

}  // namespace flashstream::jinja
