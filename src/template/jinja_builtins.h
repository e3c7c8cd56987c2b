#pragma once
// Built-in filters, tests, Python methods on str/list/dict and global functions. Every name listed
// as known is implemented; jinja2 names outside these lists are reported as unsupported.
#include <string>
#include <string_view>

#include "common/status.h"
#include "template/jinja_value.h"

namespace ds::jinja {

bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);

Result<Value> apply_filter(const std::string& name, const Value& input, CallArgs& args);
Result<bool> apply_test(const std::string& name, const Value& input, CallArgs& args);

// `obj.name` for str/list/dict methods: a bound callable, or undefined if no such attribute.
Value get_method(const Value& obj, const std::string& name);

// Python subscript obj[key] with negative indices; undefined when missing (as jinja2 does).
Result<Value> get_item(const Value& obj, const Value& key);
// obj[start:stop:step]; null pointers are omitted parts.
Result<Value> get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step);

}  // namespace ds::jinja
