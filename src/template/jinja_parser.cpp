#include "template/jinja_parser.h"

#include <algorithm>

#include "template/jinja_builtins.h"
#include "template/jinja_parser_impl.h"

namespace ds::jinja {

Result<Body> Parser::parse_root() {
  std::string end;
  return parse_body({}, &end, 0, "");
}

Status Parser::error(const std::string& msg) const {
  return invalid_argument("template syntax error at line " + std::to_string(cur().line) + ": " + msg);
}

Status Parser::unsupported_at(const std::string& what) const {
  return unsupported("template line " + std::to_string(cur().line) + ": unsupported " + what);
}

std::string Parser::describe(const Token& t) const {
  switch (t.kind) {
    case TokKind::kEof: return "end of template";
    case TokKind::kVarEnd: return "'}}'";
    case TokKind::kBlockEnd: return "'%}'";
    case TokKind::kText: return "template text";
    default: return "'" + t.value + "'";
  }
}

Status Parser::expect_op(const char* op) {
  if (!is_op(op)) return error(std::string("expected '") + op + "', got " + describe(cur()));
  ++i_;
  return Status::ok();
}

Status Parser::expect_kind(TokKind k, const char* what) {
  if (cur().kind != k) return error(std::string("expected ") + what + ", got " + describe(cur()));
  ++i_;
  return Status::ok();
}

Result<std::string> Parser::expect_name() {
  if (cur().kind != TokKind::kName) return error("expected a name, got " + describe(cur()));
  return t_[i_++].value;
}

ExprPtr Parser::make(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

Result<Body> Parser::parse_body(const EndTags& ends, std::string* found, int open_line, const std::string& opener) {
  if (++depth_ > kMaxNesting) return error("blocks nested too deeply");
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.kind == TokKind::kEof) {
      if (ends.empty()) break;
      return invalid_argument("template syntax error: unclosed '" + opener + "' block opened at line " +
                              std::to_string(open_line) + " (expected '" + ends.back() + "')");
    }
    if (t.kind == TokKind::kText) {
      auto s = std::make_unique<Stmt>();
      s->kind = Stmt::Kind::kText;
      s->text = t.value;
      body.push_back(std::move(s));
      ++i_;
    } else if (t.kind == TokKind::kVarBegin) {
      DS_ASSIGN_OR_RETURN(auto s, parse_output());
      body.push_back(std::move(s));
    } else if (t.kind == TokKind::kBlockBegin) {
      const Token& name = peek();
      if (name.kind == TokKind::kName && std::find(ends.begin(), ends.end(), name.value) != ends.end()) {
        i_ += 2;
        *found = name.value;
        break;
      }
      ++i_;
      DS_ASSIGN_OR_RETURN(auto s, parse_statement());
      body.push_back(std::move(s));
    } else {
      return error("unexpected " + describe(t));
    }
  }
  --depth_;
  return body;
}

Result<StmtPtr> Parser::parse_output() {
  ++i_;
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kOutput;
  s->line = cur().line;
  DS_ASSIGN_OR_RETURN(s->expr, parse_tuple(true));
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kVarEnd, "'}}'"));
  return s;
}

Result<StmtPtr> Parser::parse_statement() {
  if (cur().kind != TokKind::kName) return error("expected a tag name, got " + describe(cur()));
  std::string tag = cur().value;
  int line = cur().line;
  ++i_;
  Result<StmtPtr> r = Status(ErrorCode::kInternal, "");
  if (tag == "for") r = parse_for(line);
  else if (tag == "if") r = parse_if(line);
  else if (tag == "set") r = parse_set(line);
  else if (tag == "macro") r = parse_macro(line);
  else if (tag == "generation") r = parse_scope(line, "generation");
  else if (tag == "break" || tag == "continue") r = parse_loop_control(tag);
  else {
    --i_;
    for (const char* u : kUnsupportedTags)
      if (tag == u) return unsupported_at("tag '" + tag + "'");
    if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif")
      return error("unexpected '" + tag + "' (no matching open block)");
    return error("unknown tag '" + tag + "'");
  }
  if (r.ok()) r.value()->line = line;
  return r;
}

Result<StmtPtr> Parser::parse_loop_control(const std::string& tag) {
  auto s = std::make_unique<Stmt>();
  s->kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<StmtPtr> Parser::parse_scope(int line, const std::string& tag) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kScope;
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  std::string end;
  DS_ASSIGN_OR_RETURN(s->body, parse_body({"end" + tag}, &end, line, tag));
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<std::vector<std::string>> Parser::parse_targets() {
  std::vector<std::string> names;
  bool paren = is_op("(");
  if (paren) ++i_;
  do {
    DS_ASSIGN_OR_RETURN(std::string n, expect_name());
    names.push_back(n);
  } while (is_op(",") && (++i_, cur().kind == TokKind::kName));
  if (paren) DS_RETURN_IF_ERROR(expect_op(")"));
  return names;
}

Result<StmtPtr> Parser::parse_for(int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kFor;
  DS_ASSIGN_OR_RETURN(s->targets, parse_targets());
  if (!is_name("in")) return error("expected 'in' in for loop, got " + describe(cur()));
  ++i_;
  DS_ASSIGN_OR_RETURN(s->expr, parse_tuple(false));
  if (is_name("if")) {
    ++i_;
    DS_ASSIGN_OR_RETURN(s->cond, parse_expression(true));
  }
  if (is_name("recursive")) return unsupported_at("recursive for loop");
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  std::string end;
  DS_ASSIGN_OR_RETURN(s->body, parse_body({"else", "endfor"}, &end, line, "for"));
  if (end == "else") {
    DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
    DS_ASSIGN_OR_RETURN(s->else_body, parse_body({"endfor"}, &end, line, "for"));
  }
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<StmtPtr> Parser::parse_if(int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kIf;
  std::string end = "elif";
  while (end == "elif") {
    DS_ASSIGN_OR_RETURN(auto cond, parse_tuple(true));
    s->conditions.push_back(std::move(cond));
    DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
    DS_ASSIGN_OR_RETURN(Body b, parse_body({"elif", "else", "endif"}, &end, line, "if"));
    s->bodies.push_back(std::move(b));
  }
  if (end == "else") {
    DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
    DS_ASSIGN_OR_RETURN(s->else_body, parse_body({"endif"}, &end, line, "if"));
  }
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<StmtPtr> Parser::parse_set(int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kSet;
  if (cur().kind == TokKind::kName && peek().kind == TokKind::kOp && peek().value == ".") {
    s->targets.push_back(cur().value);
    i_ += 2;
    DS_ASSIGN_OR_RETURN(s->attr, expect_name());
  } else {
    DS_ASSIGN_OR_RETURN(s->targets, parse_targets());
  }
  if (is_op("=")) {
    ++i_;
    DS_ASSIGN_OR_RETURN(s->expr, parse_tuple(true));
    DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
    return s;
  }
  if (is_op("|")) return unsupported_at("filter on block set");
  if (!s->attr.empty() || s->targets.size() != 1) return error("block set needs a single name");
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'=' or '%}'"));
  s->kind = Stmt::Kind::kSetBlock;
  s->text = s->targets[0];
  std::string end;
  DS_ASSIGN_OR_RETURN(s->body, parse_body({"endset"}, &end, line, "set"));
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<StmtPtr> Parser::parse_macro(int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kMacro;
  DS_ASSIGN_OR_RETURN(s->text, expect_name());
  DS_RETURN_IF_ERROR(expect_op("("));
  while (!is_op(")")) {
    if (!s->params.empty()) DS_RETURN_IF_ERROR(expect_op(","));
    if (is_op(")")) break;
    MacroParam p;
    DS_ASSIGN_OR_RETURN(p.name, expect_name());
    if (is_op("=")) {
      ++i_;
      DS_ASSIGN_OR_RETURN(p.default_value, parse_expression(true));
    }
    s->params.push_back(std::move(p));
  }
  ++i_;
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  std::string end;
  DS_ASSIGN_OR_RETURN(s->body, parse_body({"endmacro"}, &end, line, "macro"));
  if (cur().kind == TokKind::kName) ++i_;  // optional macro name after endmacro
  DS_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "'%}'"));
  return s;
}

Result<std::unique_ptr<Template>> parse_template(std::string_view source) {
  DS_ASSIGN_OR_RETURN(std::vector<Token> toks, tokenize(source));
  Parser p(std::move(toks));
  DS_ASSIGN_OR_RETURN(Body body, p.parse_root());
  return std::make_unique<Template>(std::move(body));
}

}  // namespace ds::jinja
