// Global functions every template sees (jinja2's defaults that chat templates use).
#include "template/jinja_eval.h"

namespace ds::jinja {
namespace {

Result<Value> range_fn(CallArgs& a) {
  if (a.positional.empty() || a.positional.size() > 3) return invalid_argument("range expected 1 to 3 arguments");
  for (const Value& v : a.positional)
    if (!v.is_int() && !v.is_bool()) return invalid_argument("range() arguments must be integers");
  int64_t start = 0, stop = 0, step = 1;
  if (a.positional.size() == 1) {
    stop = a.positional[0].as_int();
  } else {
    start = a.positional[0].as_int();
    stop = a.positional[1].as_int();
    if (a.positional.size() == 3) step = a.positional[2].as_int();
  }
  if (step == 0) return invalid_argument("range() arg 3 must not be zero");
  constexpr int64_t kMaxRange = 100000;  // jinja2 sandbox MAX_RANGE
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) return invalid_argument("range() too big");
    out.push_back(Value::integer(i));
    if (__builtin_add_overflow(i, step, &i)) break;
  }
  return Value::list(std::move(out));
}

Result<Value> namespace_fn(CallArgs& a) {
  Value ns = Value::make_namespace();
  for (const Value& v : a.positional) {
    if (!v.is_dict() && !v.is_namespace()) return invalid_argument("namespace() positional argument must be a dict");
    for (const auto& [k, x] : v.dict_data().entries) ns.dict_data().set(k, x);
  }
  for (const auto& [k, v] : a.keyword) ns.dict_data().set(k, v);
  return ns;
}

Result<Value> dict_fn(CallArgs& a) {
  Value d = Value::dict();
  for (const Value& v : a.positional) {
    if (!v.is_dict()) return invalid_argument("dict() positional argument must be a dict");
    for (const auto& [k, x] : v.dict_data().entries) d.dict_data().set(k, x);
  }
  for (const auto& [k, v] : a.keyword) d.dict_data().set(k, v);
  return d;
}

}  // namespace

void add_builtin_globals(ValueDict& globals) {
  globals.set("range", Value::callable("range", range_fn));
  globals.set("namespace", Value::callable("namespace", namespace_fn));
  globals.set("dict", Value::callable("dict", dict_fn));
}

}  // namespace ds::jinja
