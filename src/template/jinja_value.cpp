#include "template/jinja_value.h"

#include <algorithm>

#include "template/jinja_text.h"

namespace ds::jinja {

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::move(s);
  return v;
}
Value Value::list(std::vector<Value> items, bool is_tuple) {
  Value v;
  v.kind_ = Kind::kList;
  v.is_tuple_ = is_tuple;
  for (const Value& x : items) v.depth_ = std::max(v.depth_, x.nesting());
  v.depth_ += 1;
  v.list_ = std::make_shared<std::vector<Value>>(std::move(items));
  return v;
}
Value Value::dict() {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<ValueDict>();
  return v;
}
Value Value::make_namespace() {
  Value v = dict();
  v.kind_ = Kind::kNamespace;
  return v;
}
Value Value::callable(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.fn_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

namespace {
template <class Json>
Value convert_json(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      for (const auto& e : j) items.push_back(convert_json(e));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict_data().set(it.key(), convert_json(it.value()));
      return d;
    }
    default: return Value::none();
  }
}
}  // namespace

Value Value::from_json(const nlohmann::json& j) { return convert_json(j); }
Value Value::from_json(const nlohmann::ordered_json& j) { return convert_json(j); }

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return f_ != 0;
    case Kind::kString: return !s_.empty();
    case Kind::kList: return !list_->empty();
    case Kind::kDict: return !dict_->entries.empty();
    default: return true;
  }
}

int Value::nesting() const {
  switch (kind_) {
    case Kind::kList: return depth_;
    case Kind::kDict:
    case Kind::kNamespace: return dict_->depth;
    default: return 0;
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return is_tuple_ ? "tuple" : "list";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    default: return "function";
  }
}

const Value* ValueDict::find(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void ValueDict::set(const std::string& key, Value v) {
  depth = std::max(depth, 1 + v.nesting());
  for (auto& [k, old] : entries) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  entries.emplace_back(key, std::move(v));
}

const Value* CallArgs::kwarg(const std::string& name) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

namespace {
// Python's repr with its recursion guard (Py_ReprEnter): a list or dict met again inside its own
// repr prints as [...] / {...}. Only namespace attributes can be assigned, so a cycle always runs
// through a namespace (`{% set ns.self = ns %}`).
struct Repr {
  std::vector<const void*> active;

  bool enter(const void* p) {
    if (std::find(active.begin(), active.end(), p) != active.end()) return false;
    active.push_back(p);
    return true;
  }

  Result<std::string> sequence(const Value& v) {
    const auto& items = v.items();
    if (!enter(&items)) return std::string(v.is_tuple() ? "(...)" : "[...]");
    std::string out = v.is_tuple() ? "(" : "[";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ", ";
      DS_ASSIGN_OR_RETURN(std::string s, value(items[i]));
      out += s;
    }
    if (v.is_tuple() && items.size() == 1) out += ",";
    out += v.is_tuple() ? ")" : "]";
    active.pop_back();
    return out;
  }

  Result<std::string> dict(const ValueDict& d) {
    if (!enter(&d)) return std::string("{...}");
    std::string out = "{";
    for (size_t i = 0; i < d.entries.size(); ++i) {
      if (i) out += ", ";
      DS_ASSIGN_OR_RETURN(std::string s, value(d.entries[i].second));
      out += py_str_repr(d.entries[i].first) + ": " + s;
    }
    active.pop_back();
    return out + "}";
  }

  Result<std::string> value(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::kUndefined: return std::string();
      case Value::Kind::kNone: return std::string("None");
      case Value::Kind::kBool: return std::string(v.as_bool() ? "True" : "False");
      case Value::Kind::kInt: return std::to_string(v.as_int());
      case Value::Kind::kFloat: return py_float_repr(v.as_double());
      case Value::Kind::kString: return py_str_repr(v.as_string());
      case Value::Kind::kList: return sequence(v);
      case Value::Kind::kDict: return dict(v.dict_data());
      case Value::Kind::kNamespace: {
        DS_ASSIGN_OR_RETURN(std::string s, dict(v.dict_data()));
        return "<Namespace " + s + ">";
      }
      default: return to_str(v);
    }
  }
};
}  // namespace

Result<std::string> to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return std::string();
    case Value::Kind::kString: return v.as_string();
    case Value::Kind::kCallable:
      return Status(ErrorCode::kUnsupported, "cannot print callable '" + v.callable_data().name + "'");
    default: return to_repr(v);
  }
}

Result<std::string> to_repr(const Value& v) { return Repr{}.value(v); }

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.as_string() == b.as_string();
    case Value::Kind::kList: {
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!values_equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Value::Kind::kDict: {
      const auto& da = a.dict_data();
      const auto& db = b.dict_data();
      if (da.entries.size() != db.entries.size()) return false;
      for (const auto& [k, va] : da.entries) {
        const Value* vb = db.find(k);
        if (!vb || !values_equal(va, *vb)) return false;
      }
      return true;
    }
    case Value::Kind::kNamespace: return &a.dict_data() == &b.dict_data();
    default: return &a.callable_data() == &b.callable_data();
  }
}

Result<int> compare_values(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (values_equal(x[i], y[i])) continue;
      return compare_values(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return invalid_argument("'<' not supported between instances of '" + a.type_name() + "' and '" +
                          b.type_name() + "'");
}

namespace {
struct JsonWriter {
  int indent;
  std::string indent_str;
  bool sort_keys;
  std::string out;

  bool pretty() const { return indent >= 0 || !indent_str.empty(); }
  void newline(int depth) {
    out += '\n';
    for (int i = 0; i < depth; ++i) out += indent_str.empty() ? std::string(indent, ' ') : indent_str;
  }

  Status write(const Value& v, int depth) {
    if (depth > 512) return invalid_argument("tojson: nesting too deep");
    switch (v.kind()) {
      case Value::Kind::kNone: out += "null"; return Status::ok();
      case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return Status::ok();
      case Value::Kind::kInt: out += std::to_string(v.as_int()); return Status::ok();
      case Value::Kind::kFloat: return write_float(v.as_double());
      case Value::Kind::kString: out += json_quote(v.as_string()); return Status::ok();
      case Value::Kind::kList: return write_list(v.items(), depth);
      case Value::Kind::kDict: return write_dict(v.dict_data(), depth);
      default:
        return invalid_argument("tojson: Object of type " + v.type_name() + " is not JSON serializable");
    }
  }
  Status write_float(double d) {
    if (std::isnan(d)) out += "NaN";
    else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
    else out += py_float_repr(d);
    return Status::ok();
  }
  Status write_list(const std::vector<Value>& items, int depth) {
    if (items.empty()) {
      out += "[]";
      return Status::ok();
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += pretty() ? "," : ", ";
      if (pretty()) newline(depth + 1);
      DS_RETURN_IF_ERROR(write(items[i], depth + 1));
    }
    if (pretty()) newline(depth);
    out += ']';
    return Status::ok();
  }
  Status write_dict(const ValueDict& d, int depth) {
    if (d.entries.empty()) {
      out += "{}";
      return Status::ok();
    }
    std::vector<const std::pair<std::string, Value>*> entries;
    for (const auto& e : d.entries) entries.push_back(&e);
    if (sort_keys)
      std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += pretty() ? "," : ", ";
      if (pretty()) newline(depth + 1);
      out += json_quote(entries[i]->first) + ": ";
      DS_RETURN_IF_ERROR(write(entries[i]->second, depth + 1));
    }
    if (pretty()) newline(depth);
    out += '}';
    return Status::ok();
  }
};
}  // namespace

Result<std::string> to_json(const Value& v, int indent, const std::string& indent_str, bool sort_keys) {
  JsonWriter w{indent, indent_str, sort_keys, {}};
  DS_RETURN_IF_ERROR(w.write(v, 0));
  return std::move(w.out);
}

Result<std::vector<Value>> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return std::vector<Value>();
    case Value::Kind::kList: return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& e : v.dict_data().entries) keys.push_back(Value::string(e.first));
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (char32_t c : utf8_decode(v.as_string())) {
        std::string s;
        append_utf8(s, c);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    default: return invalid_argument("'" + v.type_name() + "' object is not iterable");
  }
}

}  // namespace ds::jinja
