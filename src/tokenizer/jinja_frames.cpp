// Frame analysis (see ResolveFrames in jinja_parser.h): reproduces which names jinja2's
// symbol tracker (idtracking.py) initializes to "missing" when a frame is entered.
//
// A frame is the template root, a for-loop body (entered on every iteration), a for-else
// body, or the body of a macro, set block, filter block, with block or generation block.
// if/elif/else share their frame. Within a frame, visited in order and skipping nested
// frames: a name whose first occurrence is an unconditional store, and which no enclosing
// frame mentions, starts the frame undefined, shadowing the render context. So
// `{% for m in ms %}{{ x }}{% endfor %}{% set x = 1 %}` prints nothing for x even when the
// caller passes x. Every other case matches plain lexical lookup, which Interp does anyway.
#include <set>     // name sets
#include <string>  // std::string
#include <vector>  // std::vector

#include "tokenizer/jinja_parser.h"

namespace flashstream::jinja {
namespace {

class FrameAnalyzer {
 public:
  // `outer`: names referenced by enclosing frames; `params`: names the frame binds itself.
  FrameAnalyzer(const std::set<std::string>& outer, const std::vector<std::string>& params)
      : outer_(outer), refs_(params.begin(), params.end()) {}

  // Visits the frame's own nodes, then analyzes nested frames. Returns the frame's undefs.
  std::vector<std::string> Run(Body& body) {
    for (NodePtr& n : body) Visit(*n, /*in_branch=*/false);
    std::set<std::string> inner_outer = outer_;
    inner_outer.insert(refs_.begin(), refs_.end());
    for (Node* n : nested_) AnalyzeNested(*n, inner_outer);
    return undefs_;
  }

 private:
  void Load(const std::string& name) {
    if (!outer_.count(name)) refs_.insert(name);
  }

  void Store(const std::string& name, bool in_branch) {
    if (refs_.count(name) || outer_.count(name)) return;
    refs_.insert(name);
    if (!in_branch) undefs_.push_back(name);
  }

  void VisitExpr(const Expr* e) {
    if (e == nullptr) return;
    if (e->kind == Expr::Kind::kName) Load(e->name);
    for (const ExprPtr& a : e->args) VisitExpr(a.get());
    for (const auto& [k, v] : e->kwargs) VisitExpr(v.get());
  }

  void VisitBody(Body& body, bool in_branch) {
    for (NodePtr& n : body) Visit(*n, in_branch);
  }

  void Visit(Node& n, bool in_branch) {
    switch (n.kind) {
      case Node::Kind::kOutput:
        VisitExpr(n.exprs[0].get());
        return;
      case Node::Kind::kIf:
        VisitExpr(n.exprs[0].get());
        // Branch stores never start undefined: jinja2 resolves them from outside instead.
        for (size_t i = 1; i < n.exprs.size(); ++i) VisitExpr(n.exprs[i].get());
        for (Body& b : n.bodies) VisitBody(b, /*in_branch=*/true);
        return;
      case Node::Kind::kFor:
        VisitExpr(n.exprs[0].get());
        nested_.push_back(&n);
        return;
      case Node::Kind::kSet:
        VisitExpr(n.exprs[0].get());
        for (const AssignTarget& t : n.targets) {
          if (t.attr.empty()) {
            Store(t.name, in_branch);
          } else {
            Load(t.name);
          }
        }
        return;
      case Node::Kind::kSetBlock:
        VisitExpr(n.exprs[0].get());
        if (n.targets[0].attr.empty()) {
          Store(n.targets[0].name, in_branch);
        } else {
          Load(n.targets[0].name);
        }
        nested_.push_back(&n);
        return;
      case Node::Kind::kMacro:
        Store(n.text, in_branch);
        nested_.push_back(&n);
        return;
      case Node::Kind::kFilterBlock:
      case Node::Kind::kWith:
        for (const ExprPtr& e : n.exprs) VisitExpr(e.get());
        nested_.push_back(&n);
        return;
      case Node::Kind::kScope:
        nested_.push_back(&n);
        return;
      case Node::Kind::kText:
      case Node::Kind::kBreak:
      case Node::Kind::kContinue:
        return;
    }
  }

  static void AnalyzeNested(Node& n, const std::set<std::string>& outer) {
    std::vector<std::string> params;
    if (n.kind == Node::Kind::kFor || n.kind == Node::Kind::kMacro || n.kind == Node::Kind::kWith) {
      for (const AssignTarget& t : n.targets) params.push_back(t.name);
    }
    if (n.kind == Node::Kind::kFor) params.push_back("loop");
    n.frame_undefs.assign(n.bodies.size(), {});
    for (size_t i = 0; i < n.bodies.size(); ++i) {
      const bool else_body = n.kind == Node::Kind::kFor && i == 1;
      n.frame_undefs[i] = FrameAnalyzer(outer, else_body ? std::vector<std::string>() : params).Run(n.bodies[i]);
    }
  }

  const std::set<std::string> outer_;
  std::set<std::string> refs_;
  std::vector<std::string> undefs_;
  std::vector<Node*> nested_;
};

}  // namespace

void ResolveFrames(Template* t) { t->root_undefs = FrameAnalyzer({}, {}).Run(t->body); }

}  // namespace flashstream::jinja
