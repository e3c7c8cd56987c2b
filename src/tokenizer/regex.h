#pragma once
// A compiled PCRE2 pattern (UTF + UCP, JIT when available) standing in for the Oniguruma regexes
// that HF tokenizers use. Immutable after compile(); find_all() may be called from any thread.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ds::tok {

using Span = std::pair<size_t, size_t>;  // [begin, end) byte offsets

class Regex {
 public:
  // Error messages quote PCRE2's reason and the offset in the pattern.
  static Result<Regex> compile(std::string_view pattern);
  // Appends every non-overlapping match of `text` (valid UTF-8), left to right. An empty match
  // is reported as an empty span and the search resumes one character later (as Oniguruma does).
  void find_all(std::string_view text, std::vector<Span>& out) const;

 private:
  std::shared_ptr<void> code_;  // pcre2_code_8, freed by pcre2_code_free
};

// Escapes a literal so that it can be compiled as a pattern (used for String patterns).
std::string regex_escape(std::string_view literal);

}  // namespace ds::tok
