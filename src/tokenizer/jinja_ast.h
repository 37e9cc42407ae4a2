// Syntax tree of a parsed chat template. Built once by ParseTemplate, then read-only:
// rendering never mutates it, so one tree may be rendered from many threads at once.
// Nodes own their children through unique_ptr; depth is bounded by the parser.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_value.h"

namespace flashstream::jinja {

struct Expr;
struct Node;
using ExprPtr = std::unique_ptr<Expr>;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Expr {
  enum class Kind : uint8_t {
    kConst,    // value
    kName,     // name
    kList,     // args = items
    kTuple,    // args = items
    kDict,     // args = key0, value0, key1, value1, ...
    kGetAttr,  // args[0].name
    kGetItem,  // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]], missing parts are null
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs); args[0] is null inside filter blocks
    kTest,     // args[0] is name(args[1..], kwargs)
    kNeg,      // -args[0]
    kPos,      // +args[0]
    kNot,      // not args[0]
    kBinary,   // args[0] op args[1]
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCompare,  // args[0] cmp_ops[0] args[1] cmp_ops[1] args[2] ...
    kConcat,   // args[0] ~ args[1] ~ ...
    kCond,     // args[0] if args[1] else args[2] (args[2] may be null)
  };
  Kind kind = Kind::kConst;
  uint32_t line = 0;
  uint32_t col = 0;
  uint32_t depth = 1;  // height of this subtree
  Value value;
  std::string name;
  BinOp op = BinOp::kAdd;
  std::vector<CmpOp> cmp_ops;
  FilterFn filter = nullptr;  // kFilter: resolved at parse time; null = unknown (error when run)
  TestFn test = nullptr;      // kTest: likewise
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

// Target of set/for/with/macro parameters: a plain name, or `name.attr` on a namespace.
struct AssignTarget {
  std::string name;
  std::string attr;  // non-empty: namespace attribute assignment
};

struct Node {
  enum class Kind : uint8_t {
    kText,         // text
    kOutput,       // exprs[0] is printed
    kIf,           // exprs = one condition per branch; bodies = branch bodies, then else body
    kFor,          // targets in exprs[0] (if exprs[1]) ; bodies = {body, else}
    kSet,          // targets = exprs[0]
    kSetBlock,     // targets[0] = rendered bodies[0], through filter exprs[0] if non-null
    kMacro,        // text = name; targets = params; exprs = defaults (null = required)
    kFilterBlock,  // bodies[0] rendered, then through filter chain exprs[0]
    kWith,         // targets[i] = exprs[i] in a new scope for bodies[0]
    kBreak,
    kContinue,
    kScope,  // bodies[0] rendered as is ({% generation %})
  };
  Kind kind = Kind::kText;
  uint32_t line = 0;
  uint32_t col = 0;
  std::string text;
  std::vector<ExprPtr> exprs;
  std::vector<AssignTarget> targets;
  bool unpack = false;  // targets were written as a tuple ("a, b")
  std::vector<Body> bodies;
  // For bodies that are frames (for, for-else, macro, set/filter/with/generation blocks):
  // names to bind as undefined on entering them, as jinja2 does (see ResolveFrames).
  std::vector<std::vector<std::string>> frame_undefs;
};

struct Template {
  Body body;
  std::vector<std::string> root_undefs;  // names undefined at the start of the root frame
};

}  // namespace flashstream::jinja
