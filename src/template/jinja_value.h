#pragma once
// Value: a dynamically typed Jinja value with Python semantics (jinja2 runs on Python objects).
// Lists, dicts and namespaces have reference semantics like Python objects (shared_ptr), so
// `set ns.x = ...` is visible through every alias. Dicts keep insertion order; keys are strings.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace ds::jinja {

class Value;
struct ValueDict;
struct CallArgs;
using NativeFn = std::function<Result<Value>(CallArgs&)>;

struct Callable {
  std::string name;  // for error messages, e.g. "str.split" or "raise_exception"
  NativeFn fn;
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value list(std::vector<Value> items = {}, bool is_tuple = false);
  static Value dict();
  static Value make_namespace();
  static Value callable(std::string name, NativeFn fn);
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && is_tuple_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return is_float() ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return s_; }  // string value, or undefined hint
  std::vector<Value>& items() const { return *list_; }
  ValueDict& dict_data() const { return *dict_; }  // dict or namespace
  std::weak_ptr<ValueDict> dict_ref() const { return dict_; }
  const Callable& callable_data() const { return *fn_; }

  bool truthy() const;
  std::string type_name() const;  // Python's type name: 'str', 'int', 'NoneType', ...
  // How deeply lists/dicts/namespaces nest in this value (0 for a scalar, 1 for [1]); a namespace's
  // count only grows as attributes are assigned. The interpreter bounds it (RenderLimits::max_nesting)
  // so that printing, comparing and freeing a value, which recurse per level, stay within the stack.
  int nesting() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool is_tuple_ = false;
  int32_t depth_ = 0;  // lists: 1 + the deepest item's nesting()
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<std::vector<Value>> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<Callable> fn_;
};

struct ValueDict {
  std::vector<std::pair<std::string, Value>> entries;
  int depth = 1;  // 1 + the deepest value ever set (an upper bound once values are replaced)
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* kwarg(const std::string& name) const;
};

// Python str(): what {{ v }} prints. Errors for values whose str() is not deterministic.
Result<std::string> to_str(const Value& v);
// Python repr(): how values print inside lists and dicts.
Result<std::string> to_repr(const Value& v);
bool values_equal(const Value& a, const Value& b);
// Python a < b: -1/0/1, or an error for unorderable types.
Result<int> compare_values(const Value& a, const Value& b);
// json.dumps(v, ensure_ascii=False, indent=indent, separators=default, sort_keys=sort_keys).
// indent < 0 means None; indent_str, when non-empty, overrides indent (Python accepts a string).
Result<std::string> to_json(const Value& v, int indent, const std::string& indent_str, bool sort_keys);
// Iteration as Python's iter(): list items, dict keys, string characters; undefined is empty.
Result<std::vector<Value>> iterate(const Value& v);

}  // namespace ds::jinja
