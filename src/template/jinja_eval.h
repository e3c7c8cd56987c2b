#pragma once
// Evaluator: renders a parsed Template against a context of global variables. Scoping follows
// jinja2: each for-loop iteration and each macro call gets a fresh frame (so `set` inside a loop is
// invisible outside; use namespace()), `if` shares its enclosing frame.
// Limits make hostile templates fail with an error instead of hanging or exhausting memory.
#include <cstdint>
#include <string>

#include "common/status.h"
#include "template/jinja_ast.h"

namespace ds::jinja {

struct RenderLimits {
  size_t max_output_bytes = 64u << 20;    // total text produced (also caps any single string/list)
  uint64_t max_steps = 2'000'000;         // statements + loop iterations + expression nodes (a
                                          // 1000-message chat takes ~100k)
  int max_depth = 1000;                   // nested evaluation depth (macro recursion included)
  int max_nesting = 256;                  // lists/dicts within each other in a literal or a set value
};

// `globals` is a dict Value of the render context (messages, tools, functions, ...).
Result<std::string> render_template(const Template& tmpl, const Value& globals, const RenderLimits& limits = {});

// Globals every template gets: range, namespace, dict.
void add_builtin_globals(ValueDict& globals);

}  // namespace ds::jinja
