#include "template/jinja_eval.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "template/jinja_builtins.h"
#include "template/jinja_operators.h"

namespace ds::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  Interpreter(const Value& globals, const RenderLimits& limits) : limits_(limits), globals_(globals) {
    frames_.emplace_back();
  }
  // `{% set ns.x = ns %}` makes a shared_ptr cycle; emptying every assigned namespace once the
  // render is over frees it (nothing outlives a render but the output string).
  ~Interpreter() {
    for (auto& [dict, ref] : assigned_namespaces_)
      if (auto alive = ref.lock()) alive->entries.clear();
  }
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  Result<std::string> run(const Template& tmpl) {
    std::string out;
    DS_RETURN_IF_ERROR(exec_body(tmpl.body(), out));
    if (flow_ != Flow::kNormal) return invalid_argument("'break'/'continue' outside of a loop");
    return out;
  }

 private:
  using Frame = std::vector<std::pair<std::string, Value>>;

  // ---- scopes ----
  const Value* lookup(const std::string& name) const {
    for (size_t i = frames_.size(); i-- > base_;)
      for (const auto& [k, v] : frames_[i])
        if (k == name) return &v;
    if (base_ > 0)
      for (const auto& [k, v] : frames_[0])
        if (k == name) return &v;
    return globals_.dict_data().find(name);
  }
  void assign(const std::string& name, Value v) {
    for (auto& [k, old] : frames_.back()) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    frames_.back().emplace_back(name, std::move(v));
  }

  Status step() {
    if (++steps_ > limits_.max_steps) return Status(ErrorCode::kResourceExhausted, "template exceeded the step limit");
    return Status::ok();
  }
  Status emit(std::string& out, const std::string& s) {
    total_out_ += s.size();
    if (total_out_ > limits_.max_output_bytes)
      return Status(ErrorCode::kResourceExhausted, "template output exceeds the size limit");
    out += s;
    return Status::ok();
  }
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  };
  Status enter() {
    if (++depth_ > limits_.max_depth) return Status(ErrorCode::kResourceExhausted, "template recursion too deep");
    return Status::ok();
  }
  static Status at_line(const Status& s, int line) {
    if (s.is_ok() || s.message().rfind("line ", 0) == 0 || s.message().find("template line") != std::string::npos)
      return s;
    return Status(s.code(), "template line " + std::to_string(line) + ": " + s.message());
  }

  // ---- statements ----
  Status exec_body(const Body& body, std::string& out) {
    for (const auto& s : body) {
      DS_RETURN_IF_ERROR(at_line(exec(*s, out), s->line));
      if (flow_ != Flow::kNormal) break;
    }
    return Status::ok();
  }

  Status exec(const Stmt& s, std::string& out) {
    DS_RETURN_IF_ERROR(step());
    DS_RETURN_IF_ERROR(enter());
    DepthGuard g{depth_};
    switch (s.kind) {
      case Stmt::Kind::kText: return emit(out, s.text);
      case Stmt::Kind::kOutput: {
        DS_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
        DS_ASSIGN_OR_RETURN(std::string str, to_str(v));
        return emit(out, str);
      }
      case Stmt::Kind::kIf: return exec_if(s, out);
      case Stmt::Kind::kFor: return exec_for(s, out);
      case Stmt::Kind::kSet: return exec_set(s);
      case Stmt::Kind::kSetBlock: {
        std::string buf;
        DS_RETURN_IF_ERROR(exec_body(s.body, buf));
        assign(s.text, Value::string(std::move(buf)));
        return Status::ok();
      }
      case Stmt::Kind::kMacro: return define_macro(s);
      case Stmt::Kind::kBreak: flow_ = Flow::kBreak; return Status::ok();
      case Stmt::Kind::kContinue: flow_ = Flow::kContinue; return Status::ok();
      case Stmt::Kind::kScope: return exec_body(s.body, out);
    }
    return Status::ok();
  }

  Status exec_if(const Stmt& s, std::string& out) {
    for (size_t i = 0; i < s.conditions.size(); ++i) {
      DS_ASSIGN_OR_RETURN(Value c, eval(*s.conditions[i]));
      if (c.truthy()) return exec_body(s.bodies[i], out);
    }
    return exec_body(s.else_body, out);
  }

  Status bind_targets(const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      assign(targets[0], v);
      return Status::ok();
    }
    DS_ASSIGN_OR_RETURN(std::vector<Value> parts, iterate(v));
    if (parts.size() != targets.size())
      return invalid_argument("cannot unpack " + std::to_string(parts.size()) + " values into " +
                              std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < parts.size(); ++i) assign(targets[i], parts[i]);
    return Status::ok();
  }

  Result<std::vector<Value>> loop_items(const Stmt& s) {
    DS_ASSIGN_OR_RETURN(Value seq, eval(*s.expr));
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(seq));
    if (!s.cond) return items;
    std::vector<Value> kept;
    for (const Value& item : items) {
      frames_.emplace_back();
      Status st = bind_targets(s.targets, item);
      Result<Value> c = st.is_ok() ? eval(*s.cond) : Result<Value>(st);
      frames_.pop_back();
      if (!c.ok()) return c.status();
      if (c.value().truthy()) kept.push_back(item);
    }
    return kept;
  }

  Value make_loop(const std::vector<Value>& items, size_t i) {
    auto n = static_cast<int64_t>(items.size());
    auto idx = static_cast<int64_t>(i);
    Value loop = Value::make_namespace();
    ValueDict& d = loop.dict_data();
    d.set("index", Value::integer(idx + 1));
    d.set("index0", Value::integer(idx));
    d.set("revindex", Value::integer(n - idx));
    d.set("revindex0", Value::integer(n - idx - 1));
    d.set("first", Value::boolean(i == 0));
    d.set("last", Value::boolean(idx == n - 1));
    d.set("length", Value::integer(n));
    d.set("depth", Value::integer(1));
    d.set("depth0", Value::integer(0));
    d.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    d.set("nextitem", idx + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
    d.set("cycle", Value::callable("loop.cycle", [idx](CallArgs& a) -> Result<Value> {
            if (a.positional.empty()) return invalid_argument("loop.cycle() needs at least one argument");
            return a.positional[idx % a.positional.size()];
          }));
    return loop;
  }

  Status exec_for(const Stmt& s, std::string& out) {
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, loop_items(s));
    if (items.empty()) return exec_body(s.else_body, out);
    for (size_t i = 0; i < items.size(); ++i) {
      DS_RETURN_IF_ERROR(step());
      frames_.emplace_back();
      Status st = bind_targets(s.targets, items[i]);
      if (st.is_ok()) {
        assign("loop", make_loop(items, i));
        st = exec_body(s.body, out);
      }
      frames_.pop_back();
      DS_RETURN_IF_ERROR(st);
      Flow f = flow_;
      flow_ = Flow::kNormal;
      if (f == Flow::kBreak) break;
    }
    return Status::ok();
  }

  // Values persist across statements only through `set` (namespaces: across loop iterations too),
  // and grow deeper only by literals: bounding both bounds every value's nesting.
  Status check_nesting(const Value& v) const {
    if (v.nesting() > limits_.max_nesting)
      return Status(ErrorCode::kResourceExhausted,
                    "value nested more than " + std::to_string(limits_.max_nesting) + " levels deep");
    return Status::ok();
  }

  Status exec_set(const Stmt& s) {
    DS_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
    DS_RETURN_IF_ERROR(check_nesting(v));
    if (s.attr.empty()) return bind_targets(s.targets, v);
    const Value* ns = lookup(s.targets[0]);
    if (!ns || !ns->is_namespace())
      return invalid_argument("cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
    ns->dict_data().set(s.attr, std::move(v));
    // Weak: a namespace nothing else holds is freed as usual (an address reused by a later one
    // finds its old entry expired and takes it over).
    std::weak_ptr<ValueDict>& ref = assigned_namespaces_[&ns->dict_data()];
    if (ref.expired()) ref = ns->dict_ref();
    return Status::ok();
  }

  Status define_macro(const Stmt& s) {
    const Stmt* def = &s;
    assign(s.text, Value::callable(s.text, [this, def](CallArgs& a) { return call_macro(*def, a); }));
    return Status::ok();
  }

  Result<Value> call_macro(const Stmt& m, CallArgs& a) {
    if (a.positional.size() > m.params.size())
      return invalid_argument("macro '" + m.text + "' takes not more than " + std::to_string(m.params.size()) +
                              " argument(s)");
    Frame frame;
    for (size_t i = 0; i < m.params.size(); ++i) {
      const MacroParam& p = m.params[i];
      const Value* kw = a.kwarg(p.name);
      Value v = i < a.positional.size() ? a.positional[i] : kw ? *kw : Value::undefined("'" + p.name + "' is undefined");
      if (i >= a.positional.size() && !kw && p.default_value) {
      DS_ASSIGN_OR_RETURN(v, eval(*p.default_value));
    }
      frame.emplace_back(p.name, std::move(v));
    }
    for (const auto& kv : a.keyword) {
      const std::string& k = kv.first;
      bool known = std::any_of(m.params.begin(), m.params.end(), [&](const MacroParam& p) { return p.name == k; });
      if (!known) return invalid_argument("macro '" + m.text + "' takes no keyword argument '" + k + "'");
    }
    size_t saved_base = base_;
    Flow saved_flow = flow_;
    frames_.push_back(std::move(frame));
    base_ = frames_.size() - 1;
    std::string out;
    Status st = exec_body(m.body, out);
    frames_.resize(base_);
    base_ = saved_base;
    flow_ = saved_flow;
    DS_RETURN_IF_ERROR(st);
    return Value::string(std::move(out));
  }

  // ---- expressions ----
  Result<Value> eval(const Expr& e) {
    DS_RETURN_IF_ERROR(step());
    DS_RETURN_IF_ERROR(enter());
    DepthGuard g{depth_};
    Result<Value> r = eval_node(e);
    if (r.ok() && r.value().is_string() && r.value().as_string().size() > limits_.max_output_bytes)
      return Status(ErrorCode::kResourceExhausted, "template string value exceeds the size limit");
    if (r.ok() && r.value().is_list() && r.value().items().size() > limits_.max_output_bytes)
      return Status(ErrorCode::kResourceExhausted, "template list value exceeds the size limit");
    return r;
  }

  Result<Value> eval_node(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: {
        const Value* v = lookup(e.name);
        return v ? *v : Value::undefined("'" + e.name + "' is undefined");
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        std::vector<Value> items;
        for (const auto& a : e.args) {
          DS_ASSIGN_OR_RETURN(Value v, eval(*a));
          items.push_back(std::move(v));
        }
        Value list = Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
        DS_RETURN_IF_ERROR(check_nesting(list));
        return list;
      }
      case Expr::Kind::kDict: return eval_dict(e);
      case Expr::Kind::kGetAttr: {
        DS_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
        return get_attr(obj, e.name);
      }
      case Expr::Kind::kGetItem: {
        DS_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
        DS_ASSIGN_OR_RETURN(Value key, eval(*e.args[1]));
        return get_item(obj, key);
      }
      case Expr::Kind::kSlice: return eval_slice(e);
      case Expr::Kind::kCall: return eval_call(e);
      case Expr::Kind::kFilter: return eval_filter(e);
      case Expr::Kind::kTest: return eval_test(e);
      case Expr::Kind::kUnary: return eval_unary(e);
      case Expr::Kind::kBinary: return eval_binary(e);
      case Expr::Kind::kCompare: return eval_compare(e);
      case Expr::Kind::kCondExpr: {
        DS_ASSIGN_OR_RETURN(Value c, eval(*e.args[0]));
        if (c.truthy()) return eval(*e.args[1]);
        if (e.args[2]) return eval(*e.args[2]);
        return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
      }
    }
    return Status(ErrorCode::kInternal, "bad expression node");
  }

  // jinja2's getattr: Python attribute first (methods, namespace fields), then item lookup.
  static Result<Value> get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined())
      return invalid_argument(obj.as_string().empty() ? "attribute '" + name + "' of undefined value" : obj.as_string());
    if (obj.is_namespace()) {
      const Value* v = obj.dict_data().find(name);
      return v ? *v : Value::undefined("'Namespace object' has no attribute '" + name + "'");
    }
    Value m = get_method(obj, name);
    if (!m.is_undefined()) return m;
    DS_ASSIGN_OR_RETURN(Value v, get_item(obj, Value::string(name)));
    if (v.is_undefined()) return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
    return v;
  }

  Result<Value> eval_dict(const Expr& e) {
    Value d = Value::dict();
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      DS_ASSIGN_OR_RETURN(Value k, eval(*e.args[i]));
      DS_ASSIGN_OR_RETURN(Value v, eval(*e.args[i + 1]));
      if (!k.is_string()) return unsupported("dict literal keys must be strings, got " + k.type_name());
      d.dict_data().set(k.as_string(), std::move(v));
    }
    DS_RETURN_IF_ERROR(check_nesting(d));
    return d;
  }

  Result<Value> eval_slice(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
    Value parts[3];
    bool present[3] = {false, false, false};
    for (int i = 0; i < 3; ++i) {
      if (!e.args[i + 1]) continue;
      DS_ASSIGN_OR_RETURN(parts[i], eval(*e.args[i + 1]));
      present[i] = true;
    }
    return get_slice(obj, present[0] ? &parts[0] : nullptr, present[1] ? &parts[1] : nullptr,
                     present[2] ? &parts[2] : nullptr);
  }

  Result<CallArgs> eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t i = first; i < e.args.size(); ++i) {
      DS_ASSIGN_OR_RETURN(Value v, eval(*e.args[i]));
      a.positional.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      DS_ASSIGN_OR_RETURN(Value v, eval(*x));
      a.keyword.emplace_back(k, std::move(v));
    }
    return a;
  }

  Result<Value> eval_call(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value fn, eval(*e.args[0]));
    if (!fn.is_callable()) {
      if (fn.is_undefined()) return invalid_argument(fn.as_string().empty() ? "call of undefined value" : fn.as_string());
      return invalid_argument("'" + fn.type_name() + "' object is not callable");
    }
    DS_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
    return fn.callable_data().fn(a);
  }

  Result<Value> eval_filter(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
    DS_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
    return apply_filter(e.name, v, a);
  }

  Result<Value> eval_test(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
    DS_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
    DS_ASSIGN_OR_RETURN(bool r, apply_test(e.name, v, a));
    return Value::boolean(r != e.negated);
  }

  Result<Value> eval_unary(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
    if (e.name == "not") return Value::boolean(!v.truthy());
    return unary_op(e.name, v);
  }

  Result<Value> eval_binary(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value l, eval(*e.args[0]));
    if (e.name == "and") return l.truthy() ? eval(*e.args[1]) : Result<Value>(l);
    if (e.name == "or") return l.truthy() ? Result<Value>(l) : eval(*e.args[1]);
    DS_ASSIGN_OR_RETURN(Value r, eval(*e.args[1]));
    return binary_op(e.name, l, r, limits_.max_output_bytes);
  }

  Result<Value> eval_compare(const Expr& e) {
    DS_ASSIGN_OR_RETURN(Value l, eval(*e.args[0]));
    for (size_t i = 0; i < e.ops.size(); ++i) {
      DS_ASSIGN_OR_RETURN(Value r, eval(*e.args[i + 1]));
      DS_ASSIGN_OR_RETURN(bool ok, compare_op(e.ops[i], l, r));
      if (!ok) return Value::boolean(false);
      l = std::move(r);
    }
    return Value::boolean(true);
  }

  RenderLimits limits_;
  const Value& globals_;
  std::vector<Frame> frames_;
  size_t base_ = 0;  // frames below base_ (except frame 0) are invisible: the caller's, during a macro
  Flow flow_ = Flow::kNormal;
  uint64_t steps_ = 0;
  size_t total_out_ = 0;
  int depth_ = 0;
  std::unordered_map<const ValueDict*, std::weak_ptr<ValueDict>> assigned_namespaces_;
};

}  // namespace

Result<std::string> render_template(const Template& tmpl, const Value& globals, const RenderLimits& limits) {
  if (!globals.is_dict()) return invalid_argument("template context must be a dict");
  Interpreter interp(globals, limits);
  return interp.run(tmpl);
}

}  // namespace ds::jinja
