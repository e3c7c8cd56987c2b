// Python methods on str/list/dict as seen through jinja2's ImmutableSandboxedEnvironment, plus
// subscripts and slices. Methods that would mutate are refused (as the sandbox does); other Python
// methods that exist but are not implemented raise an error when called, never a silent undefined.
#include <algorithm>
#include <climits>

#include "template/jinja_builtins.h"
#include "template/jinja_text.h"

namespace ds::jinja {
namespace {

Status arg_error(const std::string& method, const std::string& msg) {
  return invalid_argument(method + "(): " + msg);
}

Result<std::string> string_arg(const CallArgs& a, size_t idx, const char* kw, const std::string& method) {
  const Value* v = idx < a.positional.size() ? &a.positional[idx] : a.kwarg(kw);
  if (!v) return arg_error(method, std::string("missing argument '") + kw + "'");
  if (!v->is_string()) return arg_error(method, "expected a string, got " + v->type_name());
  return v->as_string();
}

const Value* opt_arg(const CallArgs& a, size_t idx, const char* kw) {
  if (idx < a.positional.size()) return &a.positional[idx];
  return a.kwarg(kw);
}

std::vector<Value> split_whitespace(const std::string& s, int64_t maxsplit) {
  std::vector<Value> out;
  std::u32string cs = utf8_decode(s);
  size_t i = 0;
  while (i < cs.size()) {
    while (i < cs.size() && py_isspace(cs[i])) ++i;
    if (i >= cs.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = cs.size();
      while (e > i && py_isspace(cs[e - 1])) --e;
      out.push_back(Value::string(utf8_encode(std::u32string_view(cs).substr(i, e - i))));
      break;
    }
    size_t j = i;
    while (j < cs.size() && !py_isspace(cs[j])) ++j;
    out.push_back(Value::string(utf8_encode(std::u32string_view(cs).substr(i, j - i))));
    i = j;
  }
  return out;
}

Result<Value> str_split(const std::string& s, CallArgs& a) {
  const Value* sep = opt_arg(a, 0, "sep");
  const Value* maxv = opt_arg(a, 1, "maxsplit");
  int64_t maxsplit = (maxv && maxv->is_int()) ? maxv->as_int() : -1;
  if (!sep || sep->is_none()) return Value::list(split_whitespace(s, maxsplit));
  if (!sep->is_string()) return arg_error("str.split", "sep must be a string");
  const std::string& d = sep->as_string();
  if (d.empty()) return invalid_argument("str.split(): empty separator");
  std::vector<Value> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(d, start);
    if (p == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) break;
    out.push_back(Value::string(s.substr(start, p - start)));
    start = p + d.size();
  }
  out.push_back(Value::string(s.substr(start)));
  return Value::list(std::move(out));
}

Result<std::string> str_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` between every character (and at both ends)
    std::u32string cs = utf8_decode(s);
    int64_t n = 0;
    for (char32_t c : cs) {
      if (count < 0 || n++ < count) out += to;
      append_utf8(out, c);
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t p = s.find(from, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += to;
    start = p + from.size();
    ++n;
  }
  out.append(s, start, std::string::npos);
  return out;
}

Result<Value> str_affix(const std::string& s, CallArgs& a, bool prefix) {
  const Value* v = opt_arg(a, 0, prefix ? "prefix" : "suffix");
  if (!v) return arg_error(prefix ? "str.startswith" : "str.endswith", "missing argument");
  std::vector<Value> options = v->is_list() ? v->items() : std::vector<Value>{*v};
  for (const Value& o : options) {
    if (!o.is_string()) return arg_error(prefix ? "str.startswith" : "str.endswith", "expected a string");
    const std::string& x = o.as_string();
    if (x.size() > s.size()) continue;
    if (prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::boolean(true);
  }
  return Value::boolean(false);
}

Result<Value> call_str_method(const std::string& s, const std::string& name, CallArgs& a) {
  if (name == "split") return str_split(s, a);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* chars = opt_arg(a, 0, "chars");
    const std::string* cs = (chars && chars->is_string()) ? &chars->as_string() : nullptr;
    return Value::string(py_strip(s, name != "rstrip", name != "lstrip", cs));
  }
  if (name == "startswith" || name == "endswith") return str_affix(s, a, name == "startswith");
  if (name == "replace") {
    DS_ASSIGN_OR_RETURN(std::string from, string_arg(a, 0, "old", "str.replace"));
    DS_ASSIGN_OR_RETURN(std::string to, string_arg(a, 1, "new", "str.replace"));
    const Value* c = opt_arg(a, 2, "count");
    DS_ASSIGN_OR_RETURN(std::string r, str_replace(s, from, to, c && c->is_int() ? c->as_int() : -1));
    return Value::string(std::move(r));
  }
  if (name == "upper") return Value::string(py_upper(s));
  if (name == "lower") return Value::string(py_lower(s));
  if (name == "title") return Value::string(py_title(s));
  if (name == "capitalize") return Value::string(py_capitalize(s));
  if (name == "find") {
    DS_ASSIGN_OR_RETURN(std::string x, string_arg(a, 0, "sub", "str.find"));
    size_t p = s.find(x);
    return Value::integer(p == std::string::npos ? -1 : static_cast<int64_t>(utf8_length(s.substr(0, p))));
  }
  if (name == "join") {
    const Value* v = opt_arg(a, 0, "iterable");
    if (!v) return arg_error("str.join", "missing argument");
    DS_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(*v));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) return arg_error("str.join", "sequence item is " + items[i].type_name());
      if (i) out += s;
      out += items[i].as_string();
    }
    return Value::string(std::move(out));
  }
  return unsupported("str." + name + "() is not supported");
}

Result<Value> call_dict_method(const Value& d, const std::string& name, CallArgs& a) {
  const ValueDict& dd = d.dict_data();
  if (name == "get") {
    const Value* k = opt_arg(a, 0, "key");
    if (!k) return arg_error("dict.get", "missing argument");
    const Value* def = opt_arg(a, 1, "default");
    const Value* v = k->is_string() ? dd.find(k->as_string()) : nullptr;
    return v ? *v : (def ? *def : Value::none());
  }
  std::vector<Value> out;
  for (const auto& [k, v] : dd.entries) {
    if (name == "items") out.push_back(Value::list({Value::string(k), v}, true));
    else if (name == "keys") out.push_back(Value::string(k));
    else if (name == "values") out.push_back(v);
    else return unsupported("dict." + name + "() is not supported");
  }
  if (name != "items" && name != "keys" && name != "values") return unsupported("dict." + name + "() is not supported");
  return Value::list(std::move(out));
}

Result<Value> call_list_method(const Value& l, const std::string& name, CallArgs& a) {
  if (name != "index" && name != "count") return unsupported("list." + name + "() is not supported");
  const Value* x = opt_arg(a, 0, "value");
  if (!x) return arg_error("list." + name, "missing argument");
  int64_t n = 0;
  for (size_t i = 0; i < l.items().size(); ++i) {
    if (!values_equal(l.items()[i], *x)) continue;
    if (name == "index") return Value::integer(static_cast<int64_t>(i));
    ++n;
  }
  if (name == "index") return invalid_argument("list.index(): value is not in list");
  return Value::integer(n);
}

bool contains(std::initializer_list<const char*> names, const std::string& name) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

bool is_str_method(const std::string& n) {
  return contains({"split", "strip", "lstrip", "rstrip", "startswith", "endswith", "replace", "upper", "lower",
                   "title", "capitalize", "find", "join", "rsplit", "splitlines", "format", "count", "index",
                   "rfind", "rindex", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper",
                   "istitle", "center", "ljust", "rjust", "zfill", "partition", "rpartition", "encode",
                   "casefold", "swapcase", "expandtabs", "removeprefix", "removesuffix", "translate",
                   "format_map", "isnumeric", "isdecimal", "isidentifier", "isprintable", "isascii"},
                  n);
}
bool is_dict_method(const std::string& n) {
  return contains({"get", "items", "keys", "values", "copy", "pop", "popitem", "update", "setdefault", "clear",
                   "fromkeys"},
                  n);
}
bool is_list_method(const std::string& n) {
  return contains({"index", "count", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear",
                   "copy"},
                  n);
}

Value bind_method(const Value& obj, const std::string& type, const std::string& name) {
  return Value::callable(type + "." + name, [obj, name, type](CallArgs& a) -> Result<Value> {
    if (type == "str") return call_str_method(obj.as_string(), name, a);
    if (type == "dict") return call_dict_method(obj, name, a);
    return call_list_method(obj, name, a);
  });
}

// Python's slice.indices(): clamps start/stop for a sequence of length n.
Status slice_indices(int64_t n, const Value* start, const Value* stop, const Value* step, int64_t& b, int64_t& e,
                     int64_t& st) {
  for (const Value* v : {start, stop, step})
    if (v && !v->is_none() && !(v->is_int() || v->is_bool()))
      return invalid_argument("slice indices must be integers or None");
  st = (step && !step->is_none()) ? step->as_int() : 1;
  if (st == 0) return invalid_argument("slice step cannot be zero");
  auto clamp = [&](const Value* v, int64_t def) {
    if (!v || v->is_none()) return def;
    int64_t x = v->as_int();
    if (x < 0) x = std::max<int64_t>(x + n, st < 0 ? -1 : 0);
    else x = std::min<int64_t>(x, st < 0 ? n - 1 : n);
    return x;
  };
  b = clamp(start, st < 0 ? n - 1 : 0);
  e = clamp(stop, st < 0 ? -1 : n);
  return Status::ok();
}

}  // namespace

Value get_method(const Value& obj, const std::string& name) {
  if (obj.is_string() && is_str_method(name)) return bind_method(obj, "str", name);
  if (obj.is_dict() && is_dict_method(name)) return bind_method(obj, "dict", name);
  if (obj.is_list() && is_list_method(name)) return bind_method(obj, obj.is_tuple() ? "tuple" : "list", name);
  return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

Result<Value> get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return invalid_argument(obj.as_string().empty() ? "undefined value subscripted" : obj.as_string());
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      auto n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined("index out of range");
      return obj.items()[i];
    }
    std::u32string cs = utf8_decode(obj.as_string());
    auto n = static_cast<int64_t>(cs.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("string index out of range");
    std::string out;
    append_utf8(out, cs[i]);
    return Value::string(std::move(out));
  }
  if ((obj.is_dict() || obj.is_namespace()) && key.is_string()) {
    if (const Value* v = obj.dict_data().find(key.as_string())) return *v;
  }
  if (key.is_string()) return get_method(obj, key.as_string());
  return Value::undefined("'" + obj.type_name() + " object' has no item");
}

Result<Value> get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (!obj.is_list() && !obj.is_string()) return invalid_argument("'" + obj.type_name() + "' object is not sliceable");
  std::u32string cs;
  int64_t n = 0;
  if (obj.is_string()) {
    cs = utf8_decode(obj.as_string());
    n = static_cast<int64_t>(cs.size());
  } else {
    n = static_cast<int64_t>(obj.items().size());
  }
  int64_t b = 0, e = 0, st = 1;
  DS_RETURN_IF_ERROR(slice_indices(n, start, stop, step, b, e, st));
  std::vector<Value> items;
  std::u32string chars;
  for (int64_t i = b; st > 0 ? i < e : i > e;) {
    if (obj.is_string()) chars.push_back(cs[i]);
    else items.push_back(obj.items()[i]);
    if (__builtin_add_overflow(i, st, &i)) break;
  }
  if (obj.is_string()) return Value::string(utf8_encode(chars));
  return Value::list(std::move(items), obj.is_tuple());
}

}  // namespace ds::jinja
