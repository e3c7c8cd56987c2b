#pragma once
// Internal to the parser: the recursive-descent Parser class shared by jinja_parser.cpp
// (statements) and jinja_expr_parser.cpp (expressions).
#include <algorithm>
#include <string>
#include <vector>

#include "common/status.h"
#include "template/jinja_ast.h"
#include "template/jinja_lexer.h"

namespace ds::jinja {

inline constexpr int kMaxNesting = 200;  // expression/statement nesting; keeps the recursion bounded

// jinja2 tags that are valid Jinja but not implemented: reported as unsupported, not unknown.
inline const char* const kUnsupportedTags[] = {"include", "import", "from",  "extends", "block", "filter",
                                               "call",    "with",   "autoescape", "trans", "do"};

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<Body> parse_root();

 private:
  using EndTags = std::vector<std::string>;

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().kind == TokKind::kOp && cur().value == op; }
  bool is_name(const char* n) const { return cur().kind == TokKind::kName && cur().value == n; }

  Status error(const std::string& msg) const;
  Status unsupported_at(const std::string& what) const;
  std::string describe(const Token& t) const;
  Status expect_op(const char* op);
  Status expect_kind(TokKind k, const char* what);
  Result<std::string> expect_name();
  ExprPtr make(Expr::Kind kind, int line);

  // ---- statements ----

  Result<Body> parse_body(const EndTags& ends, std::string* found, int open_line, const std::string& opener);
  Result<StmtPtr> parse_output();
  Result<StmtPtr> parse_statement();
  Result<StmtPtr> parse_loop_control(const std::string& tag);
  Result<StmtPtr> parse_scope(int line, const std::string& tag);
  Result<std::vector<std::string>> parse_targets();
  Result<StmtPtr> parse_for(int line);
  Result<StmtPtr> parse_if(int line);
  Result<StmtPtr> parse_set(int line);
  Result<StmtPtr> parse_macro(int line);

  // ---- expressions (jinja2 precedence, lowest first) ----

  Result<ExprPtr> parse_tuple(bool with_condexpr);
  Result<ExprPtr> parse_expression(bool with_condexpr);
  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line);
  Result<ExprPtr> parse_or();
  Result<ExprPtr> parse_and();
  Result<ExprPtr> parse_not();

  // Returns the comparison operator at the cursor (consuming it) or "".
  std::string take_compare_op();
  Result<ExprPtr> parse_compare();
  Result<ExprPtr> parse_math1();
  Result<ExprPtr> parse_concat();
  Result<ExprPtr> parse_math2();
  Result<ExprPtr> parse_pow();
  Result<ExprPtr> parse_unary(bool with_filter);
  Result<ExprPtr> parse_primary();
  Result<ExprPtr> parse_sequence(Expr::Kind kind, const char* close);
  Result<ExprPtr> parse_dict();
  Result<ExprPtr> parse_postfix(ExprPtr node);
  Result<ExprPtr> parse_subscript(ExprPtr node);
  Status parse_call_args(Expr& call);
  Result<ExprPtr> parse_filter_expr(ExprPtr node);
  Result<ExprPtr> parse_filter(ExprPtr node);
  Result<ExprPtr> parse_test(ExprPtr node);

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
};


}  // namespace ds::jinja
