// Builtins of the chat-template interpreter: Jinja filters and tests, attribute and item
// access with the Python methods templates call (str.strip, dict.get, ...), and the globals
// transformers provides (range, namespace, dict, raise_exception, strftime_now).
// Stateless tables; every function is thread-safe given its own Interp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_value.h"

namespace flashstream::jinja {

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

using FilterFn = Result<Value> (*)(Interp& in, const Value& input, const CallArgs& args);
using TestFn = Result<bool> (*)(Interp& in, const Value& input, const CallArgs& args);

FilterFn FindFilter(std::string_view name);  // nullptr if unknown
TestFn FindTest(std::string_view name);      // nullptr if unknown

// `obj.name` as Jinja's immutable sandbox resolves it: a Python attribute (bound method) of
// str/list/dict first, then the item `obj["name"]`; undefined (with a hint) when neither.
// Methods that would mutate a container resolve to an undefined that fails when called.
Value GetAttr(const Value& obj, std::string_view name);
// Python getattr() alone (the attr filter): methods and namespace attributes, no items.
Value GetPyAttr(const Value& obj, std::string_view name);
// `obj[key]`: dict lookup, list/tuple/str index (negative from the end), namespace attribute.
// Missing entries give undefined; using an undefined `obj` is an error.
Result<Value> GetItem(const Value& obj, const Value& key);
// Python slicing obj[start:stop:step] of list/tuple/str; null parts are Python's None.
Result<Value> Slice(Interp& in, const Value& obj, const Value* start, const Value* stop, const Value* step);

// Python operators on values. Strings and lists built here are charged to `in`.
Result<Value> BinaryOp(Interp& in, BinOp op, const Value& a, const Value& b);
Result<bool> CompareOp(Interp& in, CmpOp op, const Value& a, const Value& b);
// Python `item in container`.
Result<bool> Contains(Interp& in, const Value& container, const Value& item);
Result<Value> Negate(const Value& v);
// The items a for loop visits: list/tuple elements, dict keys, str characters, a
// generator's items (consuming it); undefined iterates as empty. Other types are an error.
Result<List> IterItems(Interp& in, const Value& v);

// Template globals; undefined if `name` is not one.
Value FindGlobal(std::string_view name);

// Python `fmt % args` for str (printf-style %s %r %d %i %f %x %%).
Result<Value> PercentFormat(Interp& in, const std::string& fmt, const Value& args);

// Wraps a newly built string after charging it to `in` (size limit and budget).
Result<Value> NewStr(Interp& in, std::string s);
// str(v), bounded by the render's string-size limit (error when over it).
Result<std::string> StrOf(Interp& in, const Value& v);

// Argument binding for builtins: positional or keyword, by parameter order.
class ArgReader {
 public:
  // `params` lists parameter names in order; fails on unknown keywords or too many positionals.
  static Result<ArgReader> Bind(std::string_view fn_name, const CallArgs& args,
                                std::initializer_list<std::string_view> params);
  // The bound value of parameter `i`, or nullptr if it was not passed.
  const Value* Get(size_t i) const { return i < bound_.size() ? bound_[i] : nullptr; }

 private:
  std::vector<const Value*> bound_;
};

}  // namespace flashstream::jinja
