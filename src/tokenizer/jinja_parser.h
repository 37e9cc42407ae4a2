// Parser for the Jinja2 subset used by chat templates: if/elif/else, for (tuple targets,
// loop filter, else, break/continue), set (names, tuples, namespace attributes, blocks),
// macro, filter blocks, with, generation, raw; expressions with Jinja's precedence.
// Stateless function; thread-safe.
#pragma once

#include <string_view>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"

namespace flashstream::jinja {

// Deepest nesting of expressions and statements the parser accepts.
inline constexpr uint32_t kMaxParseDepth = 200;

// Parses `source` and resolves its frames. Errors are one line:
// "line L:C: <what was expected>, got <what was found>".
Result<Template> ParseTemplate(std::string_view source);

// Fills Template::root_undefs and Node::frame_undefs (jinja_frames.cpp).
void ResolveFrames(Template* t);

}  // namespace flashstream::jinja
