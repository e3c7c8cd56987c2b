#include "template/jinja_operators.h"

#include <cmath>

namespace ds::jinja {
namespace {

Status type_error(const std::string& op, const Value& l, const Value& r) {
  for (const Value* v : {&l, &r})
    if (v->is_undefined()) return invalid_argument(v->as_string().empty() ? "undefined value in '" + op + "'" : v->as_string());
  return invalid_argument("unsupported operand type(s) for " + op + ": '" + l.type_name() + "' and '" + r.type_name() + "'");
}

Status too_big() { return Status(ErrorCode::kResourceExhausted, "template value exceeds the size limit"); }

bool is_intlike(const Value& v) { return v.is_int() || v.is_bool(); }

Result<Value> int_arith(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = false;
  if (op == "+") overflow = __builtin_add_overflow(a, b, &r);
  else if (op == "-") overflow = __builtin_sub_overflow(a, b, &r);
  else if (op == "*") overflow = __builtin_mul_overflow(a, b, &r);
  else if (op == "/") {
    if (b == 0) return invalid_argument("division by zero");
    return Value::floating(static_cast<double>(a) / static_cast<double>(b));
  } else if (op == "//" || op == "%") {
    if (b == 0) return invalid_argument("integer division or modulo by zero");
    if (a == INT64_MIN && b == -1) return invalid_argument("integer overflow");
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) {
      --q;
      m += b;
    }
    r = op == "//" ? q : m;
  } else if (op == "**") {
    if (b < 0) return Value::floating(std::pow(static_cast<double>(a), static_cast<double>(b)));
    r = 1;
    for (int64_t i = 0; i < b && !overflow; ++i) {
      overflow = __builtin_mul_overflow(r, a, &r);
      if (r == 0 || r == 1) break;
    }
    if (a == -1) r = (b % 2) ? -1 : 1;
  }
  if (overflow) return invalid_argument("integer overflow in '" + op + "'");
  return Value::integer(r);
}

Result<Value> float_arith(const std::string& op, double a, double b) {
  if (op == "+") return Value::floating(a + b);
  if (op == "-") return Value::floating(a - b);
  if (op == "*") return Value::floating(a * b);
  if (op == "**") return Value::floating(std::pow(a, b));
  if (b == 0) return invalid_argument("float division by zero");
  if (op == "/") return Value::floating(a / b);
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  if (op == "%") return Value::floating(m);
  return Value::floating(std::floor((a - m) / b + 0.5));  // "//"
}

Result<Value> repeat(const Value& seq, int64_t n, size_t max_size) {
  if (n <= 0) return seq.is_string() ? Value::string("") : Value::list({}, seq.is_tuple());
  size_t unit = seq.is_string() ? seq.as_string().size() : seq.items().size();
  if (unit != 0 && static_cast<uint64_t>(n) > max_size / unit) return too_big();
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value::string(std::move(out));
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::list(std::move(out), seq.is_tuple());
}

}  // namespace

Result<Value> unary_op(const std::string& op, const Value& v) {
  if (v.is_float()) return Value::floating(op == "-" ? -v.as_double() : v.as_double());
  if (is_intlike(v)) {
    if (op == "+") return Value::integer(v.as_int());
    if (v.as_int() == INT64_MIN) return invalid_argument("integer overflow");
    return Value::integer(-v.as_int());
  }
  if (v.is_undefined()) return invalid_argument(v.as_string().empty() ? "undefined value" : v.as_string());
  return invalid_argument("bad operand type for unary " + op + ": '" + v.type_name() + "'");
}

Result<Value> binary_op(const std::string& op, const Value& l, const Value& r, size_t max_size) {
  if (op == "~") {
    DS_ASSIGN_OR_RETURN(std::string a, to_str(l));
    DS_ASSIGN_OR_RETURN(std::string b, to_str(r));
    if (a.size() + b.size() > max_size) return too_big();
    return Value::string(a + b);
  }
  if (l.is_number() && r.is_number()) {
    if (l.is_float() || r.is_float()) return float_arith(op, l.as_double(), r.as_double());
    return int_arith(op, l.as_int(), r.as_int());
  }
  if (op == "+" && l.is_string() && r.is_string()) {
    if (l.as_string().size() + r.as_string().size() > max_size) return too_big();
    return Value::string(l.as_string() + r.as_string());
  }
  if (op == "+" && l.is_list() && r.is_list() && l.is_tuple() == r.is_tuple()) {
    if (l.items().size() + r.items().size() > max_size) return too_big();
    std::vector<Value> items = l.items();
    items.insert(items.end(), r.items().begin(), r.items().end());
    return Value::list(std::move(items), l.is_tuple());
  }
  if (op == "*" && (l.is_string() || l.is_list()) && is_intlike(r)) return repeat(l, r.as_int(), max_size);
  if (op == "*" && (r.is_string() || r.is_list()) && is_intlike(l)) return repeat(r, l.as_int(), max_size);
  if (op == "%" && l.is_string()) return unsupported("printf-style string formatting ('%' on str)");
  return type_error(op, l, r);
}

Result<bool> compare_op(const std::string& op, const Value& l, const Value& r) {
  if (op == "==") return values_equal(l, r);
  if (op == "!=") return !values_equal(l, r);
  if (op == "in" || op == "notin") {
    bool found = false;
    if (r.is_string()) {
      if (!l.is_string())
        return invalid_argument("'in <string>' requires string as left operand, not " + l.type_name());
      found = r.as_string().find(l.as_string()) != std::string::npos;
    } else if (r.is_dict()) {
      found = l.is_string() && r.dict_data().find(l.as_string()) != nullptr;
    } else if (r.is_list()) {
      for (const Value& x : r.items())
        if (values_equal(l, x)) found = true;
    } else if (!r.is_undefined()) {
      return invalid_argument("argument of type '" + r.type_name() + "' is not iterable");
    }
    return op == "in" ? found : !found;
  }
  DS_ASSIGN_OR_RETURN(int c, compare_values(l, r));
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

}  // namespace ds::jinja
