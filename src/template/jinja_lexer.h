#pragma once
// Lexer: splits template source into text and tag tokens, applying jinja2's whitespace rules as
// HF configures them (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False):
//  - `{%-`/`{{-`/`{#-` strip all whitespace before the tag; `-%}`/`-}}`/`-#}` all after it.
//  - trim_blocks: one newline directly after `%}` or `#}` is dropped (`+%}` keeps it).
//  - lstrip_blocks: spaces/tabs between a line start and `{%`/`{#` are dropped (`{%+` keeps them).
// Inside tags it produces expression tokens; `}}`/`%}` inside brackets do not end the tag.
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ds::jinja {

enum class TokKind { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  TokKind kind;
  std::string value;  // text, name, operator, decoded string literal or number spelling
  int line = 1;
};

Result<std::vector<Token>> tokenize(std::string_view source);

}  // namespace ds::jinja
