// jinja2 built-in filters and tests (the subset chat templates use), with jinja2's semantics,
// plus HF's tojson override: json.dumps(x, ensure_ascii=False, indent=indent, separators=None,
// sort_keys=False).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "template/jinja_builtins.h"
#include "template/jinja_text.h"

namespace ds::jinja {
namespace {

constexpr std::string_view kFilters[] = {
    "trim",  "length", "count",      "tojson", "string", "lower",     "upper", "capitalize", "title",
    "default", "d",    "first",      "last",   "join",   "replace",   "items", "list",       "selectattr",
    "rejectattr", "select", "reject", "map",   "int",    "float",     "abs",   "safe",       "reverse",
    "unique", "sum",   "min",        "max",    "indent", "wordcount", "dictsort"};

constexpr std::string_view kTests[] = {
    "defined", "undefined", "none", "boolean", "true", "false", "integer", "float",   "number", "string",
    "mapping", "iterable",  "sequence", "callable", "sameas", "equalto", "eq", "==", "ne",   "!=",
    "lt",      "<",         "le",   "<=",      "gt",   ">",     "ge",      ">=",  "in",   "odd",
    "even",    "divisibleby", "lower", "upper"};

const Value* arg(const CallArgs& a, size_t idx, const char* kw) {
  if (idx < a.positional.size()) return &a.positional[idx];
  return a.kwarg(kw);
}

Result<std::string> str_of(const Value& v) { return to_str(v); }

Result<Value> filter_length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return Value::integer(0);
    case Value::Kind::kString: return Value::integer(static_cast<int64_t>(utf8_length(v.as_string())));
    case Value::Kind::kList: return Value::integer(static_cast<int64_t>(v.items().size()));
    case Value::Kind::kDict: return Value::integer(static_cast<int64_t>(v.dict_data().entries.size()));
    default: return invalid_argument("object of type '" + v.type_name() + "' has no len()");
  }
}

Result<Value> filter_tojson(const Value& v, const CallArgs& a) {
  const Value* ascii = arg(a, 0, "ensure_ascii");
  if (ascii && ascii->truthy()) return unsupported("tojson(ensure_ascii=True) is not supported");
  if (arg(a, 2, "separators") && !arg(a, 2, "separators")->is_none())
    return unsupported("tojson(separators=...) is not supported");
  const Value* indent = arg(a, 1, "indent");
  const Value* sort = arg(a, 3, "sort_keys");
  int n = -1;
  std::string indent_str;
  if (indent && indent->is_string()) {
    indent_str = indent->as_string();
    n = indent_str.empty() ? 0 : -1;
  } else if (indent && (indent->is_int() || indent->is_bool())) {
    n = static_cast<int>(std::clamp<int64_t>(indent->as_int(), 0, 64));
  } else if (indent && !indent->is_none()) {
    return invalid_argument("tojson: indent must be an integer or a string");
  }
  DS_ASSIGN_OR_RETURN(std::string s, to_json(v, n, indent_str, sort && sort->truthy()));
  return Value::string(std::move(s));
}

// jinja2's do_title: uppercase the first letter of each word, words split at [-\s({[<]+.
std::string jinja_title(const std::string& s) {
  std::u32string cs = utf8_decode(s);
  auto is_sep = [](char32_t c) { return py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
  std::string out;
  bool word_start = true;
  for (char32_t c : cs) {
    std::string one;
    append_utf8(one, c);
    if (is_sep(c)) {
      out += one;
      word_start = true;
    } else {
      out += word_start ? py_upper(one) : py_lower(one);
      word_start = false;
    }
  }
  return out;
}

// Attribute lookup used by map/selectattr/join/sum/...: dotted path, digits index lists.
Result<Value> get_attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    Value key = digits ? Value::integer(std::atoll(part.c_str())) : Value::string(part);
    if (cur.is_undefined()) return cur;
    DS_ASSIGN_OR_RETURN(cur, get_item(cur, key));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

Result<Value> filter_select(const std::string& name, const Value& v, CallArgs& a) {
  bool by_attr = name == "selectattr" || name == "rejectattr";
  bool keep = name == "selectattr" || name == "select";
  DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  size_t first = 0;
  std::string attr;
  if (by_attr) {
    if (a.positional.empty() || !a.positional[0].is_string()) return invalid_argument(name + ": missing attribute name");
    attr = a.positional[0].as_string();
    first = 1;
  }
  std::string test = first < a.positional.size() ? "" : "";
  if (first < a.positional.size()) {
    if (!a.positional[first].is_string()) return invalid_argument(name + ": test name must be a string");
    test = a.positional[first].as_string();
    if (!is_known_test(test)) return unsupported(name + ": test '" + test + "'");
  }
  CallArgs targs;
  for (size_t i = first + 1; i < a.positional.size(); ++i) targs.positional.push_back(a.positional[i]);
  std::vector<Value> out;
  for (const Value& item : items) {
    Value x = item;
    if (by_attr) {
      DS_ASSIGN_OR_RETURN(x, get_attribute_path(item, attr));
    }
    bool ok = false;
    if (test.empty()) {
      ok = x.truthy();
    } else {
      CallArgs copy = targs;
      DS_ASSIGN_OR_RETURN(ok, apply_test(test, x, copy));
    }
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Result<Value> filter_map(const Value& v, CallArgs& a) {
  DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  std::vector<Value> out;
  if (const Value* attr = a.kwarg("attribute")) {
    if (!attr->is_string()) return invalid_argument("map: attribute must be a string");
    const Value* def = a.kwarg("default");
    for (const Value& item : items) {
      DS_ASSIGN_OR_RETURN(Value x, get_attribute_path(item, attr->as_string()));
      out.push_back(x.is_undefined() && def ? *def : x);
    }
    return Value::list(std::move(out));
  }
  if (a.positional.empty() || !a.positional[0].is_string()) return invalid_argument("map: expected a filter name");
  std::string f = a.positional[0].as_string();
  if (!is_known_filter(f)) return unsupported("map: filter '" + f + "'");
  for (const Value& item : items) {
    CallArgs fa;
    fa.positional.assign(a.positional.begin() + 1, a.positional.end());
    fa.keyword = a.keyword;
    DS_ASSIGN_OR_RETURN(Value x, apply_filter(f, item, fa));
    out.push_back(std::move(x));
  }
  return Value::list(std::move(out));
}

Result<Value> filter_join(const Value& v, const CallArgs& a) {
  const Value* sep = arg(a, 0, "d");
  const Value* attr = arg(a, 1, "attribute");
  DS_ASSIGN_OR_RETURN(std::string d, sep ? str_of(*sep) : Result<std::string>(std::string()));
  DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value x = items[i];
    if (attr && attr->is_string()) {
      DS_ASSIGN_OR_RETURN(x, get_attribute_path(x, attr->as_string()));
    }
    DS_ASSIGN_OR_RETURN(std::string s, str_of(x));
    if (i) out += d;
    out += s;
  }
  return Value::string(std::move(out));
}

Result<Value> filter_number(const std::string& name, const Value& v, const CallArgs& a) {
  const Value* def = arg(a, 0, "default");
  Value fallback = def ? *def : (name == "int" ? Value::integer(0) : Value::floating(0.0));
  if (v.is_int() || v.is_bool()) return name == "int" ? Value::integer(v.as_int()) : Value::floating(v.as_double());
  if (v.is_float()) {
    if (name == "float") return v;
    if (!std::isfinite(v.as_double()) || std::fabs(v.as_double()) > 9e18) return fallback;
    return Value::integer(static_cast<int64_t>(v.as_double()));
  }
  if (!v.is_string()) return fallback;
  std::string s = py_strip(v.as_string(), true, true);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return fallback;
  if (name == "float") return Value::floating(d);
  if (!std::isfinite(d) || std::fabs(d) > 9e18) return fallback;
  return Value::integer(static_cast<int64_t>(d));
}

Result<Value> filter_indent(const Value& v, const CallArgs& a) {
  DS_ASSIGN_OR_RETURN(std::string s, str_of(v));
  const Value* w = arg(a, 0, "width");
  const Value* first = arg(a, 1, "first");
  const Value* blank = arg(a, 2, "blank");
  std::string pad = w && w->is_string() ? w->as_string() : std::string(w ? std::clamp<int64_t>(w->as_int(), 0, 256) : 4, ' ');
  std::string out;
  size_t start = 0;
  bool first_line = true;
  while (start <= s.size()) {
    size_t nl = s.find('\n', start);
    std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    bool do_pad = first_line ? (first && first->truthy()) : (!line.empty() || (blank && blank->truthy()));
    if (!first_line) out += '\n';
    if (do_pad) out += pad;
    out += line;
    first_line = false;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return Value::string(std::move(out));
}

Result<Value> filter_reduce(const std::string& name, const Value& v, const CallArgs& a) {
  DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  if (name == "sum") {
    const Value* start = arg(a, 1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const Value& x : items) {
      if (!x.is_number() || !acc.is_number()) return invalid_argument("sum: unsupported operand " + x.type_name());
      if (acc.is_float() || x.is_float()) acc = Value::floating(acc.as_double() + x.as_double());
      else acc = Value::integer(acc.as_int() + x.as_int());
    }
    return acc;
  }
  if (name == "unique" || name == "reverse") {
    std::vector<Value> out;
    for (const Value& x : items) {
      if (name == "unique" && std::any_of(out.begin(), out.end(), [&](const Value& y) { return values_equal(x, y); }))
        continue;
      out.push_back(x);
    }
    if (name == "reverse") std::reverse(out.begin(), out.end());
    if (name == "reverse" && v.is_string()) {
      std::string s;
      for (const Value& c : out) s += c.as_string();
      return Value::string(std::move(s));
    }
    return Value::list(std::move(out));
  }
  if (items.empty()) return Value::undefined("min/max of empty sequence");
  Value best = items[0];
  for (const Value& x : items) {
    DS_ASSIGN_OR_RETURN(int c, compare_values(x, best));
    if ((name == "min" && c < 0) || (name == "max" && c > 0)) best = x;
  }
  return best;
}

Result<Value> filter_items(const Value& v) {
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) return invalid_argument("items filter: expected a mapping, got " + v.type_name());
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_data().entries) out.push_back(Value::list({Value::string(k), x}, true));
  return Value::list(std::move(out));
}

Result<Value> filter_dictsort(const Value& v) {
  DS_ASSIGN_OR_RETURN(Value items, filter_items(v));
  auto& list = items.items();
  std::stable_sort(list.begin(), list.end(), [](const Value& x, const Value& y) {
    return py_lower(x.items()[0].as_string()) < py_lower(y.items()[0].as_string());
  });
  return items;
}

Result<Value> filter_string_op(const std::string& name, const Value& v, const CallArgs& a) {
  DS_ASSIGN_OR_RETURN(std::string s, str_of(v));
  if (name == "trim") {
    const Value* chars = arg(a, 0, "chars");
    return Value::string(py_strip(s, true, true, chars && chars->is_string() ? &chars->as_string() : nullptr));
  }
  if (name == "string") return Value::string(std::move(s));
  if (name == "lower") return Value::string(py_lower(s));
  if (name == "upper") return Value::string(py_upper(s));
  if (name == "capitalize") return Value::string(py_capitalize(s));
  if (name == "title") return Value::string(jinja_title(s));
  if (name == "wordcount") {
    CallArgs none;
    return Value::integer(static_cast<int64_t>(get_method(Value::string(s), "split").callable_data().fn(none).value().items().size()));
  }
  // replace(old, new, count=None)
  const Value* from = arg(a, 0, "old");
  const Value* to = arg(a, 1, "new");
  if (!from || !to) return invalid_argument("replace: expected old and new strings");
  DS_ASSIGN_OR_RETURN(std::string f, str_of(*from));
  DS_ASSIGN_OR_RETURN(std::string t, str_of(*to));
  CallArgs ra;
  ra.positional = {Value::string(f), Value::string(t)};
  if (const Value* c = arg(a, 2, "count"); c && !c->is_none()) ra.positional.push_back(*c);
  return get_method(Value::string(s), "replace").callable_data().fn(ra);
}

}  // namespace

bool is_known_filter(std::string_view name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

bool is_known_test(std::string_view name) {
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

Result<Value> apply_filter(const std::string& name, const Value& v, CallArgs& a) {
  if (name == "trim" || name == "string" || name == "lower" || name == "upper" || name == "capitalize" ||
      name == "title" || name == "replace" || name == "wordcount")
    return filter_string_op(name, v, a);
  if (name == "length" || name == "count") return filter_length(v);
  if (name == "tojson") return filter_tojson(v, a);
  if (name == "default" || name == "d") {
    const Value* def = arg(a, 0, "default_value");
    const Value* boolean = arg(a, 1, "boolean");
    bool use_default = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
    return use_default ? (def ? *def : Value::string("")) : v;
  }
  if (name == "first" || name == "last") {
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    if (items.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") return filter_join(v, a);
  if (name == "items") return filter_items(v);
  if (name == "dictsort") return filter_dictsort(v);
  if (name == "list") {
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    return Value::list(std::move(items));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject")
    return filter_select(name, v, a);
  if (name == "map") return filter_map(v, a);
  if (name == "int" || name == "float") return filter_number(name, v, a);
  if (name == "abs") {
    if (v.is_float()) return Value::floating(std::fabs(v.as_double()));
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    return invalid_argument("bad operand type for abs(): '" + v.type_name() + "'");
  }
  if (name == "safe") return v;
  if (name == "indent") return filter_indent(v, a);
  return filter_reduce(name, v, a);
}

Result<bool> apply_test(const std::string& name, const Value& v, CallArgs& a) {
  const Value* x = arg(a, 0, "other");
  auto need = [&]() -> Status {
    return x ? Status::ok() : invalid_argument("test '" + name + "' needs an argument");
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_callable();
  if (name == "lower") return v.is_string() && py_lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && py_upper(v.as_string()) == v.as_string();
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) return invalid_argument("test '" + name + "' needs an integer");
    if (name == "odd") return v.as_int() % 2 != 0;
    if (name == "even") return v.as_int() % 2 == 0;
    DS_RETURN_IF_ERROR(need());
    if (!x->is_int() || x->as_int() == 0) return invalid_argument("divisibleby needs a non-zero integer");
    return v.as_int() % x->as_int() == 0;
  }
  DS_RETURN_IF_ERROR(need());
  if (name == "sameas") return values_equal(v, *x) && v.kind() == x->kind();
  if (name == "equalto" || name == "eq" || name == "==") return values_equal(v, *x);
  if (name == "ne" || name == "!=") return !values_equal(v, *x);
  if (name == "in") {
    if (x->is_string() && v.is_string()) return x->as_string().find(v.as_string()) != std::string::npos;
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(*x));
    return std::any_of(items.begin(), items.end(), [&](const Value& y) { return values_equal(v, y); });
  }
  DS_ASSIGN_OR_RETURN(int c, compare_values(v, *x));
  if (name == "lt" || name == "<") return c < 0;
  if (name == "le" || name == "<=") return c <= 0;
  if (name == "gt" || name == ">") return c > 0;
  return c >= 0;
}

}  // namespace ds::jinja
