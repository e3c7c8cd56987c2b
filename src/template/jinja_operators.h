#pragma once
// Python semantics of Jinja's arithmetic, concatenation, membership and comparison operators.
#include <cstddef>
#include <string>

#include "common/status.h"
#include "template/jinja_value.h"

namespace ds::jinja {

Result<Value> unary_op(const std::string& op, const Value& v);  // "-" or "+"
// op in {+ - * / // % ** ~}; max_size bounds strings/lists built by + and *.
Result<Value> binary_op(const std::string& op, const Value& l, const Value& r, size_t max_size);
// op in {== != < > <= >= in notin}
Result<bool> compare_op(const std::string& op, const Value& l, const Value& r);

}  // namespace ds::jinja
