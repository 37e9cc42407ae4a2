// Interp: renders a parsed chat template (jinja_ast.h) against a context of variables.
// One Interp serves one render: it owns the render's scopes, namespaces and budgets, and is
// not thread-safe. The tree it renders is borrowed and must outlive the call.
//
// Every render is bounded: output size, total work (evaluated nodes, loop iterations,
// elements processed), bytes of strings built, and nesting depth (expressions, statements,
// macro calls, containers). Exceeding a bound is an error Status, never a crash or a hang.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace flashstream::jinja {

// Bounds of one render; exceeding any is an error. Value type; defaults suit real templates
// with long conversations while keeping a hostile template under about a second of work.
struct Limits {
  size_t max_output_bytes = size_t{16} << 20;    // rendered text, and any one string value
  uint64_t max_steps = 10'000'000;               // evaluated nodes + loop iterations + elements
  uint64_t max_bytes_built = uint64_t{1} << 30;  // all strings built during the render
  uint32_t max_depth = 400;                      // nested evaluation and container nesting
};

class Interp {
 public:
  // `now_unix`: the time strftime_now() formats (UTC); nullopt = the current time.
  Interp(const Limits& limits, std::optional<int64_t> now_unix);
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  // Renders `root` with the variables of `context`. Call once per Interp.
  Result<std::string> Render(const Template& root, const Dict& context);

  // ---- services for builtins ----
  // Accounts for a string (or container) of `bytes` about to be built, and one step per KiB
  // of it; fails past a limit. Builtins that scan large inputs without building call Step.
  Status Charge(uint64_t bytes);
  // Accounts for `n` units of work; fails past the step budget.
  Status Step(uint64_t n = 1);
  // Creates a namespace owned by this render.
  Value NewNamespace(Dict attrs);
  // Calls a callable value (builtin or macro).
  Result<Value> Call(const Value& callee, const CallArgs& args);
  const Limits& limits() const { return limits_; }
  std::optional<int64_t> now_unix() const { return now_unix_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct Scope;

  Result<Flow> ExecBody(const Body& body, Scope* scope, std::string* out);
  Result<Flow> Exec(const Node& node, Scope* scope, std::string* out);
  Result<Flow> ExecFor(const Node& node, Scope* scope, std::string* out);
  Status ExecSet(const Node& node, Scope* scope);
  Status Assign(const AssignTarget& target, Value value, Scope* scope, const Node& at);
  Status Unpack(const Node& node, const Value& value, Scope* scope);
  // Renders a frame body (set/filter block) in a child scope.
  Result<std::string> RenderBlock(const Node& node, Scope* parent);
  // Binds a frame's jinja2 "missing" names in its new scope.
  static void EnterFrame(const Node& node, size_t body, Scope* scope);
  Result<Value> ApplyFilterChain(const Expr& filter, Value input, Scope* scope);
  Result<Value> CallMacro(const Node& macro, const CallArgs& args);
  Status Append(std::string_view text, std::string* out);

  Result<Value> Eval(const Expr& e, Scope* scope);
  Result<Value> EvalInner(const Expr& e, Scope* scope);
  Result<CallArgs> EvalArgs(const Expr& e, size_t first, Scope* scope);
  Result<Value> EvalCompare(const Expr& e, Scope* scope);
  Value Lookup(const std::string& name, Scope* scope) const;

  Limits limits_;
  std::optional<int64_t> now_unix_;
  std::deque<Namespace> namespaces_;  // declared first: outlives every Value of the render
  const Dict* context_ = nullptr;
  Scope* root_ = nullptr;
  const Value* block_input_ = nullptr;  // input of a filter chain in {% filter %} / set blocks
  uint64_t steps_ = 0;
  uint64_t bytes_built_ = 0;
  uint32_t depth_ = 0;
};

}  // namespace flashstream::jinja
