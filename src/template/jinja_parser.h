#pragma once
// Parser: tokens -> AST (jinja_ast.h), following jinja2's grammar and operator precedence.
// Unknown or unsupported tags, filters and tests are errors here, naming the construct and line.
#include <memory>
#include <string_view>

#include "common/status.h"
#include "template/jinja_ast.h"

namespace ds::jinja {

Result<std::unique_ptr<Template>> parse_template(std::string_view source);

}  // namespace ds::jinja
