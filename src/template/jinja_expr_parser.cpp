// Expression grammar of the parser, following jinja2's precedence (lowest first): conditional,
// or, and, not, comparisons/in, + -, ~, * / // %, **, unary, postfix, filters/tests.
#include <cerrno>
#include <cstdlib>

#include "template/jinja_builtins.h"
#include "template/jinja_parser_impl.h"

namespace ds::jinja {

Result<ExprPtr> Parser::parse_tuple(bool with_condexpr) {
  int line = cur().line;
  DS_ASSIGN_OR_RETURN(ExprPtr first, parse_expression(with_condexpr));
  if (!is_op(",")) return first;
  auto t = make(Expr::Kind::kTuple, line);
  t->args.push_back(std::move(first));
  while (is_op(",")) {
    ++i_;
    if (cur().kind == TokKind::kVarEnd || cur().kind == TokKind::kBlockEnd || is_name("if")) break;
    DS_ASSIGN_OR_RETURN(ExprPtr e, parse_expression(with_condexpr));
    t->args.push_back(std::move(e));
  }
  return t;
}

Result<ExprPtr> Parser::parse_expression(bool with_condexpr) {
  if (++depth_ > kMaxNesting) return error("expression nested too deeply");
  DS_ASSIGN_OR_RETURN(ExprPtr e, parse_or());
  while (with_condexpr && is_name("if")) {
    auto c = make(Expr::Kind::kCondExpr, cur().line);
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr cond, parse_or());
    ExprPtr other;
    if (is_name("else")) {
      ++i_;
      DS_ASSIGN_OR_RETURN(other, parse_expression(true));
    }
    c->args.push_back(std::move(cond));
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(other));
    e = std::move(c);
  }
  --depth_;
  return e;
}

ExprPtr Parser::binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
  auto b = make(Expr::Kind::kBinary, line);
  b->name = op;
  b->args.push_back(std::move(l));
  b->args.push_back(std::move(r));
  return b;
}

Result<ExprPtr> Parser::parse_or() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_and());
  while (is_name("or")) {
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_and());
    l = binary("or", std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_and() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_not());
  while (is_name("and")) {
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_not());
    l = binary("and", std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_not() {
  if (!is_name("not")) return parse_compare();
  if (++depth_ > kMaxNesting) return error("expression nested too deeply");
  auto u = make(Expr::Kind::kUnary, cur().line);
  u->name = "not";
  ++i_;
  DS_ASSIGN_OR_RETURN(ExprPtr e, parse_not());
  u->args.push_back(std::move(e));
  --depth_;
  return u;
}

std::string Parser::take_compare_op() {
  static const char* kOps[] = {"==", "!=", "<", ">", "<=", ">="};
  for (const char* op : kOps)
    if (is_op(op)) {
      ++i_;
      return op;
    }
  if (is_name("in")) {
    ++i_;
    return "in";
  }
  if (is_name("not") && peek().kind == TokKind::kName && peek().value == "in") {
    i_ += 2;
    return "notin";
  }
  return "";
}

Result<ExprPtr> Parser::parse_compare() {
  int line = cur().line;
  DS_ASSIGN_OR_RETURN(ExprPtr first, parse_math1());
  std::string op = take_compare_op();
  if (op.empty()) return first;
  auto c = make(Expr::Kind::kCompare, line);
  c->args.push_back(std::move(first));
  while (!op.empty()) {
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_math1());
    c->ops.push_back(op);
    c->args.push_back(std::move(r));
    op = take_compare_op();
  }
  return c;
}

Result<ExprPtr> Parser::parse_math1() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_concat());
  while (is_op("+") || is_op("-")) {
    std::string op = cur().value;
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_concat());
    l = binary(op, std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_concat() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_math2());
  while (is_op("~")) {
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_math2());
    l = binary("~", std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_math2() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_pow());
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    std::string op = cur().value;
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_pow());
    l = binary(op, std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_pow() {
  DS_ASSIGN_OR_RETURN(ExprPtr l, parse_unary(true));
  while (is_op("**")) {
    int line = cur().line;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr r, parse_unary(true));
    l = binary("**", std::move(l), std::move(r), line);
  }
  return l;
}

Result<ExprPtr> Parser::parse_unary(bool with_filter) {
  if (++depth_ > kMaxNesting) return error("expression nested too deeply");
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    node = make(Expr::Kind::kUnary, cur().line);
    node->name = cur().value;
    ++i_;
    DS_ASSIGN_OR_RETURN(ExprPtr inner, parse_unary(false));
    node->args.push_back(std::move(inner));
  } else {
    DS_ASSIGN_OR_RETURN(node, parse_primary());
  }
  DS_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
  if (with_filter) {
    DS_ASSIGN_OR_RETURN(node, parse_filter_expr(std::move(node)));
  }
  --depth_;
  return node;
}


Result<ExprPtr> Parser::parse_primary() {
  const Token& t = cur();
  int line = t.line;
  auto lit = [&](Value v) {
    auto e = make(Expr::Kind::kLiteral, line);
    e->literal = std::move(v);
    return e;
  };
  if (t.kind == TokKind::kName) {
    ++i_;
    if (t.value == "true" || t.value == "True") return lit(Value::boolean(true));
    if (t.value == "false" || t.value == "False") return lit(Value::boolean(false));
    if (t.value == "none" || t.value == "None") return lit(Value::none());
    auto e = make(Expr::Kind::kName, line);
    e->name = t.value;
    return e;
  }
  if (t.kind == TokKind::kString) {
    std::string s;
    while (cur().kind == TokKind::kString) s += t_[i_++].value;  // adjacent literals concatenate
    return lit(Value::string(std::move(s)));
  }
  if (t.kind == TokKind::kInt) {
    errno = 0;
    long long v = std::strtoll(t.value.c_str(), nullptr, 10);
    if (errno == ERANGE) return error("integer literal too large: " + t.value);
    ++i_;
    return lit(Value::integer(v));
  }
  if (t.kind == TokKind::kFloat) {
    ++i_;
    return lit(Value::floating(std::strtod(t.value.c_str(), nullptr)));
  }
  if (is_op("(")) {
    ++i_;
    if (is_op(")")) {
      ++i_;
      return lit(Value::list({}, true));
    }
    DS_ASSIGN_OR_RETURN(ExprPtr e, parse_expression(true));
    if (is_op(",")) {
      auto tup = make(Expr::Kind::kTuple, line);
      tup->args.push_back(std::move(e));
      while (is_op(",")) {
        ++i_;
        if (is_op(")")) break;
        DS_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
        tup->args.push_back(std::move(item));
      }
      e = std::move(tup);
    }
    DS_RETURN_IF_ERROR(expect_op(")"));
    return e;
  }
  if (is_op("[")) return parse_sequence(Expr::Kind::kList, "]");
  if (is_op("{")) return parse_dict();
  return error("unexpected " + describe(t));
}

Result<ExprPtr> Parser::parse_sequence(Expr::Kind kind, const char* close) {
  auto e = make(kind, cur().line);
  ++i_;
  while (!is_op(close)) {
    if (!e->args.empty()) {
      DS_RETURN_IF_ERROR(expect_op(","));
      if (is_op(close)) break;
    }
    DS_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
    e->args.push_back(std::move(item));
  }
  ++i_;
  return e;
}

Result<ExprPtr> Parser::parse_dict() {
  auto e = make(Expr::Kind::kDict, cur().line);
  ++i_;
  while (!is_op("}")) {
    if (!e->args.empty()) {
      DS_RETURN_IF_ERROR(expect_op(","));
      if (is_op("}")) break;
    }
    DS_ASSIGN_OR_RETURN(ExprPtr k, parse_expression(true));
    DS_RETURN_IF_ERROR(expect_op(":"));
    DS_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
    e->args.push_back(std::move(k));
    e->args.push_back(std::move(v));
  }
  ++i_;
  return e;
}

Result<ExprPtr> Parser::parse_postfix(ExprPtr node) {
  while (true) {
    int line = cur().line;
    if (is_op(".")) {
      ++i_;
      if (cur().kind == TokKind::kInt) {
        auto idx = make(Expr::Kind::kLiteral, line);
        idx->literal = Value::integer(std::strtoll(cur().value.c_str(), nullptr, 10));
        ++i_;
        auto g = make(Expr::Kind::kGetItem, line);
        g->args.push_back(std::move(node));
        g->args.push_back(std::move(idx));
        node = std::move(g);
        continue;
      }
      auto g = make(Expr::Kind::kGetAttr, line);
      DS_ASSIGN_OR_RETURN(g->name, expect_name());
      g->args.push_back(std::move(node));
      node = std::move(g);
    } else if (is_op("[")) {
      DS_ASSIGN_OR_RETURN(node, parse_subscript(std::move(node)));
    } else if (is_op("(")) {
      auto c = make(Expr::Kind::kCall, line);
      c->args.push_back(std::move(node));
      DS_RETURN_IF_ERROR(parse_call_args(*c));
      node = std::move(c);
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_subscript(ExprPtr node) {
  int line = cur().line;
  ++i_;
  ExprPtr parts[3];
  int colons = 0;
  bool any = false;
  while (!is_op("]")) {
    if (is_op(":")) {
      if (++colons > 2) return error("invalid slice");
      ++i_;
      continue;
    }
    if (parts[colons]) return error("expected ']' or ':' in subscript, got " + describe(cur()));
    DS_ASSIGN_OR_RETURN(parts[colons], parse_expression(true));
    any = true;
    if (is_op(",")) return unsupported_at("tuple subscript");
  }
  ++i_;
  if (colons == 0) {
    if (!any) return error("empty subscript");
    auto g = make(Expr::Kind::kGetItem, line);
    g->args.push_back(std::move(node));
    g->args.push_back(std::move(parts[0]));
    return g;
  }
  auto s = make(Expr::Kind::kSlice, line);
  s->args.push_back(std::move(node));
  for (auto& p : parts) s->args.push_back(std::move(p));
  return s;
}

Status Parser::parse_call_args(Expr& call) {
  ++i_;
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      DS_RETURN_IF_ERROR(expect_op(","));
      if (is_op(")")) break;
    }
    first = false;
    if (is_op("*") || is_op("**")) return unsupported_at("*args/**kwargs in call");
    if (cur().kind == TokKind::kName && peek().kind == TokKind::kOp && peek().value == "=") {
      std::string key = cur().value;
      i_ += 2;
      DS_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
      call.kwargs.emplace_back(key, std::move(v));
      continue;
    }
    if (!call.kwargs.empty()) return error("positional argument follows keyword argument");
    DS_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
    call.args.push_back(std::move(v));
  }
  ++i_;
  return Status::ok();
}

Result<ExprPtr> Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      DS_ASSIGN_OR_RETURN(node, parse_filter(std::move(node)));
    } else if (is_name("is")) {
      DS_ASSIGN_OR_RETURN(node, parse_test(std::move(node)));
    } else if (is_op("(")) {
      auto c = make(Expr::Kind::kCall, cur().line);
      c->args.push_back(std::move(node));
      DS_RETURN_IF_ERROR(parse_call_args(*c));
      node = std::move(c);
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_filter(ExprPtr node) {
  auto f = make(Expr::Kind::kFilter, cur().line);
  ++i_;
  DS_ASSIGN_OR_RETURN(f->name, expect_name());
  while (is_op(".")) {
    ++i_;
    DS_ASSIGN_OR_RETURN(std::string part, expect_name());
    f->name += "." + part;
  }
  if (!is_known_filter(f->name)) return unsupported_at("filter '" + f->name + "'");
  f->args.push_back(std::move(node));
  if (is_op("(")) DS_RETURN_IF_ERROR(parse_call_args(*f));
  return f;
}

Result<ExprPtr> Parser::parse_test(ExprPtr node) {
  auto t = make(Expr::Kind::kTest, cur().line);
  ++i_;
  if (is_name("not")) {
    t->negated = true;
    ++i_;
  }
  DS_ASSIGN_OR_RETURN(t->name, expect_name());
  while (is_op(".")) {
    ++i_;
    DS_ASSIGN_OR_RETURN(std::string part, expect_name());
    t->name += "." + part;
  }
  if (!is_known_test(t->name)) return unsupported_at("test '" + t->name + "'");
  t->args.push_back(std::move(node));
  if (is_op("(")) {
    DS_RETURN_IF_ERROR(parse_call_args(*t));
  } else if ((cur().kind == TokKind::kName || cur().kind == TokKind::kString || cur().kind == TokKind::kInt ||
              cur().kind == TokKind::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) return error("cannot chain multiple tests with 'is'");
    DS_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());
    DS_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
    t->args.push_back(std::move(arg));
  }
  return t;
}

}  // namespace ds::jinja
