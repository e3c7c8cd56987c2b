#pragma once
// The {"String": "..."} / {"Regex": "..."} pattern objects of tokenizer.json (Split pre-tokenizer,
// Replace normalizer and decoder): find spans, replace all.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/regex.h"

namespace ds::tok {

class Pattern {
 public:
  static Result<Pattern> from_json(const Json& j, const std::string& path);
  static Pattern literal(std::string s);
  void find_all(std::string_view text, std::vector<Span>& out) const;
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;          // used when regex_ is empty
  std::optional<Regex> regex_;
};

}  // namespace ds::tok
