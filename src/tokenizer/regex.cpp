#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace ds::tok {
namespace {

pcre2_code* as_code(const std::shared_ptr<void>& p) { return static_cast<pcre2_code*>(p.get()); }

struct MatchData {
  explicit MatchData(pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* md;
};

// Runs one match; falls back to the interpreter when the JIT stack is too small for the input
// (long whitespace runs against `\s+(?!\S)`).
int match_once(pcre2_code* code, std::string_view text, size_t start, pcre2_match_data* md) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                     nullptr);
  }
  return rc;
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    return invalid_argument("regex error at offset " + std::to_string(err_off) + ": " +
                            reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // failure is fine: the interpreter still works
  Regex r;
  r.code_ = std::shared_ptr<void>(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
  return r;
}

void Regex::find_all(std::string_view text, std::vector<Span>& out) const {
  pcre2_code* code = as_code(code_);
  MatchData data(code);
  size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = match_once(code, text, pos, data.md);
    if (rc < 0) return;  // no match (or a resource limit: treat the rest as unmatched)
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    const size_t b = ov[0], e = ov[1];
    if (e < b || e > text.size()) return;  // \K tricks; never produced by tokenizer patterns
    out.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (b >= text.size()) return;
      size_t n = utf8_valid_len(text, b);
      pos = b + (n == 0 ? 1 : n);
    }
  }
}

std::string regex_escape(std::string_view literal) {
  // \Q...\E cannot contain "\E", so escape byte by byte instead.
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace ds::tok
