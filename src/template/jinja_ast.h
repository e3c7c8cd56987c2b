#pragma once
// AST of the supported Jinja subset. Expressions and statements are small tagged structs; the
// evaluator (jinja_eval.cpp) switches on `kind`. Filters and tests are resolved to known names at
// parse time, so an unknown one is a parse error.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/jinja_value.h"

namespace ds::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // literal
    kName,      // name
    kList,      // args = items
    kTuple,     // args = items
    kDict,      // args = key0, value0, key1, value1, ...
    kGetAttr,   // args[0].name
    kGetItem,   // args[0][args[1]]
    kSlice,     // args[0][args[1]:args[2]:args[3]], null parts omitted
    kCall,      // args[0](args[1..], kwargs)
    kFilter,    // args[0] | name(args[1..], kwargs)
    kTest,      // args[0] is [not] name(args[1..])
    kUnary,     // name in {"-", "+", "not"}; args[0]
    kBinary,    // args[0] name args[1]; name in {+ - * / // % ** ~ and or in notin}
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained)
    kCondExpr,  // args[1] if args[0] else args[2] (args[2] may be null)
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // conditions[i] -> bodies[i]; else_body
    kFor,       // for targets in expr [if cond] body [else else_body]
    kSet,       // set targets = expr, or set ns.attr = expr (attr non-empty)
    kSetBlock,  // {% set name %}body{% endset %}
    kMacro,     // {% macro name(params) %}body{% endmacro %}
    kBreak,
    kContinue,
    kScope,     // body rendered in place ({% generation %})
  };
  Kind kind;
  int line = 0;
  std::string text;                // kText; kMacro / kSetBlock name
  ExprPtr expr;                    // kOutput, kFor iterable, kSet value
  ExprPtr cond;                    // kFor filter condition
  std::vector<std::string> targets;
  std::string attr;                // kSet: `set targets[0].attr = ...`
  std::vector<ExprPtr> conditions;  // kIf
  std::vector<Body> bodies;         // kIf
  Body body;
  Body else_body;
  std::vector<MacroParam> params;
};

// A parsed template: the root statement list.
class Template {
 public:
  explicit Template(Body body) : body_(std::move(body)) {}
  const Body& body() const { return body_; }

 private:
  Body body_;
};

}  // namespace ds::jinja
