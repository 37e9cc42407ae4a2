// Tree-walking evaluator for chat templates (see jinja_interp.h). Scoping follows jinja2:
// `if` shares its scope; each for-loop iteration, macro call, with/filter/set block gets a
// fresh child scope, so `set` inside a loop does not leak out (namespaces exist for that).
#include "tokenizer/jinja_interp.h"

#include <fmt/format.h>  // fmt::format for error messages

#include <iterator>  // std::size
#include <utility>   // std::move

#include "tokenizer/jinja_builtins.h"

namespace flashstream::jinja {

struct Interp::Scope {
  Scope* parent = nullptr;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* Find(std::string_view name) const {
    for (const auto& [k, v] : vars) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  void Set(const std::string& name, Value v) {
    for (auto& [k, old] : vars) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
};

namespace {

// Errors from builtins carry no position; the node that called them adds it once.
bool HasLocation(const Status& s) {
  const std::string& m = s.message();
  return m.size() > 5 && m.compare(0, 5, "line ") == 0 && m[5] >= '0' && m[5] <= '9';
}

Status At(uint32_t line, uint32_t col, const Status& s) {
  if (s.ok() || HasLocation(s)) return s;
  return Errorf("line {}:{}: {}", line, col, s.message());
}

template <typename N>
Status At(const N& n, const Status& s) {
  return At(n.line, n.col, s);
}

template <typename N>
Status Fail(const N& n, const std::string& msg) {
  return Errorf("line {}:{}: {}", n.line, n.col, msg);
}

// jinja2's `loop` variable for iteration `i` over `items`.
Value LoopObject(const List& items, int64_t i) {
  static const Value kKeys[] = {Value::Str("index"),    Value::Str("index0"),   Value::Str("revindex"),
                                Value::Str("revindex0"), Value::Str("first"),    Value::Str("last"),
                                Value::Str("length"),   Value::Str("depth"),    Value::Str("depth0"),
                                Value::Str("previtem"), Value::Str("nextitem"), Value::Str("cycle")};
  static const Value kNoPrev = Value::Undefined("there is no previous item");
  static const Value kNoNext = Value::Undefined("there is no next item");
  const int64_t n = static_cast<int64_t>(items.size());
  const Value fields[] = {
      Value::Int(i + 1),
      Value::Int(i),
      Value::Int(n - i),
      Value::Int(n - i - 1),
      Value::Bool(i == 0),
      Value::Bool(i == n - 1),
      Value::Int(n),
      Value::Int(1),
      Value::Int(0),
      i > 0 ? items[static_cast<size_t>(i - 1)] : kNoPrev,
      i + 1 < n ? items[static_cast<size_t>(i + 1)] : kNoNext,
      Value::MakeCallable("cycle",
                          [i](Interp&, const CallArgs& a) -> Result<Value> {
                            if (a.args.empty()) return Status::Error("loop.cycle() needs at least one argument");
                            return a.args[static_cast<size_t>(i) % a.args.size()];
                          }),
  };
  Dict loop;
  loop.Reserve(std::size(kKeys));
  for (size_t k = 0; k < std::size(kKeys); ++k) loop.Append(kKeys[k], fields[k]);
  return Value::MakeDict(std::move(loop));
}

// RAII depth counter for nested evaluation.
class DepthGuard {
 public:
  explicit DepthGuard(uint32_t* depth) : depth_(depth) { ++*depth_; }
  ~DepthGuard() { --*depth_; }

 private:
  uint32_t* depth_;
};

}  // namespace

Interp::Interp(const Limits& limits, std::optional<int64_t> now_unix) : limits_(limits), now_unix_(now_unix) {}

Status Interp::Charge(uint64_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    return Errorf("a value of {} bytes exceeds the {}-byte limit", bytes, limits_.max_output_bytes);
  }
  bytes_built_ += bytes;
  if (bytes_built_ > limits_.max_bytes_built) {
    return Errorf("the render built more than {} bytes of strings", limits_.max_bytes_built);
  }
  return Step(bytes >> 10);  // building costs time too: one step per KiB
}

Status Interp::Step(uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) return Errorf("the render exceeded its budget of {} steps", limits_.max_steps);
  return Status::Ok();
}

Value Interp::NewNamespace(Dict attrs) {
  namespaces_.push_back(Namespace{std::move(attrs)});
  return Value::MakeNamespace(&namespaces_.back());
}

Result<Value> Interp::Call(const Value& callee, const CallArgs& args) {
  if (callee.is_undefined()) return Status::Error(callee.undefined_hint());
  if (callee.kind() != Value::Kind::kCallable) return Errorf("'{}' object is not callable", TypeName(callee));
  return callee.callable().fn(*this, args);
}

Result<std::string> Interp::Render(const Template& root, const Dict& context) {
  Scope scope;
  for (const std::string& name : root.root_undefs)
    scope.Set(name, Value::Undefined(fmt::format("'{}' is undefined", name)));
  context_ = &context;
  root_ = &scope;
  std::string out;
  Result<Flow> r = ExecBody(root.body, &scope, &out);
  if (!r.ok()) return r.status();
  return out;
}

Status Interp::Append(std::string_view text, std::string* out) {
  if (out->size() + text.size() > limits_.max_output_bytes) {
    return Errorf("rendered text exceeds the {}-byte limit", limits_.max_output_bytes);
  }
  out->append(text);
  return Status::Ok();
}

Value Interp::Lookup(const std::string& name, Scope* scope) const {
  for (Scope* s = scope; s != nullptr; s = s->parent) {
    if (const Value* v = s->Find(name)) return *v;
  }
  if (const Value* v = context_->Find(name)) return *v;
  Value g = FindGlobal(name);
  if (!g.is_undefined()) return g;
  return Value::Undefined(fmt::format("'{}' is undefined", name));
}

// ---- statements ----

Result<Interp::Flow> Interp::ExecBody(const Body& body, Scope* scope, std::string* out) {
  for (const NodePtr& n : body) {
    FS_ASSIGN_OR_RETURN(Flow f, Exec(*n, scope, out));
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Result<Interp::Flow> Interp::Exec(const Node& node, Scope* scope, std::string* out) {
  DepthGuard guard(&depth_);
  if (depth_ > limits_.max_depth) return Fail(node, fmt::format("nesting exceeds {} levels", limits_.max_depth));
  FS_RETURN_IF_ERROR(At(node, Step()));
  switch (node.kind) {
    case Node::Kind::kText:
      FS_RETURN_IF_ERROR(At(node, Append(node.text, out)));
      return Flow::kNormal;
    case Node::Kind::kOutput: {
      FS_ASSIGN_OR_RETURN(Value v, Eval(*node.exprs[0], scope));
      if (v.is_string()) {
        FS_RETURN_IF_ERROR(At(node, Append(v.str(), out)));
      } else {
        const std::string s = ToStr(v, limits_.max_output_bytes);
        FS_RETURN_IF_ERROR(At(node, Charge(s.size())));
        FS_RETURN_IF_ERROR(At(node, Append(s, out)));
      }
      return Flow::kNormal;
    }
    case Node::Kind::kIf:
      for (size_t i = 0; i < node.exprs.size(); ++i) {
        FS_ASSIGN_OR_RETURN(Value cond, Eval(*node.exprs[i], scope));
        if (Truthy(cond)) return ExecBody(node.bodies[i], scope, out);
      }
      return ExecBody(node.bodies.back(), scope, out);
    case Node::Kind::kFor:
      return ExecFor(node, scope, out);
    case Node::Kind::kSet:
      FS_RETURN_IF_ERROR(ExecSet(node, scope));
      return Flow::kNormal;
    case Node::Kind::kSetBlock: {
      FS_ASSIGN_OR_RETURN(std::string text, RenderBlock(node, scope));
      Value v = Value::Str(std::move(text));
      if (node.exprs[0]) {
        FS_ASSIGN_OR_RETURN(v, ApplyFilterChain(*node.exprs[0], std::move(v), scope));
      }
      FS_RETURN_IF_ERROR(Assign(node.targets[0], std::move(v), scope, node));
      return Flow::kNormal;
    }
    case Node::Kind::kMacro: {
      const Node* macro = &node;
      scope->Set(node.text, Value::MakeCallable(node.text, [macro](Interp& in, const CallArgs& args) {
                   return in.CallMacro(*macro, args);
                 }));
      return Flow::kNormal;
    }
    case Node::Kind::kFilterBlock: {
      FS_ASSIGN_OR_RETURN(std::string text, RenderBlock(node, scope));
      FS_ASSIGN_OR_RETURN(Value v, ApplyFilterChain(*node.exprs[0], Value::Str(std::move(text)), scope));
      const std::string s = ToStr(v, limits_.max_output_bytes);
      FS_RETURN_IF_ERROR(At(node, Append(s, out)));
      return Flow::kNormal;
    }
    case Node::Kind::kWith: {
      Scope inner{scope, {}};
      EnterFrame(node, 0, &inner);
      for (size_t i = 0; i < node.targets.size(); ++i) {
        FS_ASSIGN_OR_RETURN(Value v, Eval(*node.exprs[i], scope));
        inner.Set(node.targets[i].name, std::move(v));
      }
      FS_ASSIGN_OR_RETURN(Flow f, ExecBody(node.bodies[0], &inner, out));
      return f;
    }
    case Node::Kind::kBreak:
      return Flow::kBreak;
    case Node::Kind::kContinue:
      return Flow::kContinue;
    case Node::Kind::kScope: {
      Scope inner{scope, {}};
      EnterFrame(node, 0, &inner);
      return ExecBody(node.bodies[0], &inner, out);
    }
  }
  return Fail(node, "unknown statement");
}

void Interp::EnterFrame(const Node& node, size_t body, Scope* scope) {
  if (body >= node.frame_undefs.size()) return;
  for (const std::string& name : node.frame_undefs[body]) {
    scope->Set(name, Value::Undefined(fmt::format("'{}' is undefined", name)));
  }
}

Result<std::string> Interp::RenderBlock(const Node& node, Scope* parent) {
  Scope inner{parent, {}};
  EnterFrame(node, 0, &inner);
  std::string text;
  FS_ASSIGN_OR_RETURN(Flow f, ExecBody(node.bodies[0], &inner, &text));
  (void)f;  // break/continue cannot cross a block: the parser rejects them there
  return text;
}

Result<Value> Interp::ApplyFilterChain(const Expr& filter, Value input, Scope* scope) {
  const Value* saved = block_input_;
  block_input_ = &input;
  Result<Value> r = Eval(filter, scope);
  block_input_ = saved;
  return r;
}

Result<Interp::Flow> Interp::ExecFor(const Node& node, Scope* scope, std::string* out) {
  FS_ASSIGN_OR_RETURN(Value iterable, Eval(*node.exprs[0], scope));
  Result<List> items_or = IterItems(*this, iterable);
  if (!items_or.ok()) return At(*node.exprs[0], items_or.status());
  List items = std::move(items_or).value();
  FS_RETURN_IF_ERROR(At(node, Step(items.size())));
  if (node.exprs.size() > 1) {  // loop filter: `for x in xs if cond`
    List kept;
    for (Value& item : items) {
      Scope probe{scope, {}};
      FS_RETURN_IF_ERROR(Unpack(node, item, &probe));
      FS_ASSIGN_OR_RETURN(Value keep, Eval(*node.exprs[1], &probe));
      if (Truthy(keep)) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  // jinja2 runs the else block unless the last iteration reached the end of the body, so a
  // break (or a continue in the final iteration) also triggers it; mirrored for parity.
  bool run_else = true;
  for (int64_t i = 0; i < n; ++i) {
    FS_RETURN_IF_ERROR(At(node, Step()));
    Scope iter{scope, {}};
    EnterFrame(node, 0, &iter);
    FS_RETURN_IF_ERROR(Unpack(node, items[static_cast<size_t>(i)], &iter));
    iter.Set("loop", LoopObject(items, i));
    FS_ASSIGN_OR_RETURN(Flow f, ExecBody(node.bodies[0], &iter, out));
    if (f == Flow::kBreak) break;
    if (f == Flow::kNormal) run_else = false;
  }
  if (run_else) {
    Scope inner{scope, {}};
    EnterFrame(node, 1, &inner);
    FS_ASSIGN_OR_RETURN(Flow f, ExecBody(node.bodies[1], &inner, out));
    (void)f;
  }
  return Flow::kNormal;
}

Status Interp::Unpack(const Node& node, const Value& value, Scope* scope) {
  if (!node.unpack && node.targets.size() == 1) return Assign(node.targets[0], value, scope, node);
  Result<List> parts = IterItems(*this, value);
  if (!parts.ok()) return Fail(node, fmt::format("cannot unpack non-iterable {} object", TypeName(value)));
  const size_t want = node.targets.size();
  if (parts->size() != want) {
    if (parts->size() > want) return Fail(node, fmt::format("too many values to unpack (expected {})", want));
    return Fail(node, fmt::format("not enough values to unpack (expected {}, got {})", want, parts->size()));
  }
  for (size_t i = 0; i < want; ++i) FS_RETURN_IF_ERROR(Assign(node.targets[i], (*parts)[i], scope, node));
  return Status::Ok();
}

Status Interp::ExecSet(const Node& node, Scope* scope) {
  FS_ASSIGN_OR_RETURN(Value v, Eval(*node.exprs[0], scope));
  return Unpack(node, v, scope);
}

Status Interp::Assign(const AssignTarget& target, Value value, Scope* scope, const Node& at) {
  if (target.attr.empty()) {
    scope->Set(target.name, std::move(value));
    return Status::Ok();
  }
  const Value ns = Lookup(target.name, scope);
  if (ns.kind() != Value::Kind::kNamespace) {
    return Fail(at, fmt::format("cannot assign attribute '{}' on '{}': not a namespace", target.attr, target.name));
  }
  if (target.attr[0] == '_')
    return Fail(at, fmt::format("namespace attribute '{}' may not start with '_'", target.attr));
  ns.ns().attrs.Set(Value::Str(target.attr), std::move(value));
  return Status::Ok();
}

Result<Value> Interp::CallMacro(const Node& macro, const CallArgs& args) {
  if (args.args.size() > macro.targets.size()) {
    return Errorf("macro '{}' takes {} arguments, got {}", macro.text, macro.targets.size(), args.args.size());
  }
  Scope scope{root_, {}};
  EnterFrame(macro, 0, &scope);
  std::vector<bool> bound(macro.targets.size(), false);
  for (size_t i = 0; i < args.args.size(); ++i) {
    scope.Set(macro.targets[i].name, args.args[i]);
    bound[i] = true;
  }
  for (const auto& [key, value] : args.kwargs) {
    size_t i = 0;
    while (i < macro.targets.size() && macro.targets[i].name != key) ++i;
    if (i == macro.targets.size()) return Errorf("macro '{}' has no parameter '{}'", macro.text, key);
    if (bound[i]) return Errorf("macro '{}' got parameter '{}' twice", macro.text, key);
    scope.Set(key, value);
    bound[i] = true;
  }
  for (size_t i = 0; i < macro.targets.size(); ++i) {
    if (bound[i]) continue;
    if (macro.exprs[i]) {
      FS_ASSIGN_OR_RETURN(Value def, Eval(*macro.exprs[i], &scope));
      scope.Set(macro.targets[i].name, std::move(def));
    } else {
      scope.Set(macro.targets[i].name,
                Value::Undefined(fmt::format("parameter '{}' was not provided", macro.targets[i].name)));
    }
  }
  std::string text;
  FS_ASSIGN_OR_RETURN(Flow f, ExecBody(macro.bodies[0], &scope, &text));
  (void)f;
  return Value::Str(std::move(text));
}

}  // namespace flashstream::jinja
