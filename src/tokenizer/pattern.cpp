#include "tokenizer/pattern.h"

namespace ds::tok {

Result<Pattern> Pattern::from_json(const Json& j, const std::string& path) {
  DS_RETURN_IF_ERROR(expect_object(j, path));
  Pattern p;
  if (auto it = j.find("String"); it != j.end()) {
    if (!it->is_string()) return invalid_argument(path + ".String: expected a string");
    p.literal_ = it->get<std::string>();
    return p;
  }
  if (auto it = j.find("Regex"); it != j.end()) {
    if (!it->is_string()) return invalid_argument(path + ".Regex: expected a string");
    auto re = Regex::compile(it->get<std::string>());
    if (!re.ok()) return re.status().with_context(path + ".Regex");
    p.regex_ = std::move(re).value();
    return p;
  }
  return invalid_argument(path + ": expected {\"String\": ...} or {\"Regex\": ...}");
}

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

void Pattern::find_all(std::string_view text, std::vector<Span>& out) const {
  if (regex_) {
    regex_->find_all(text, out);
    return;
  }
  if (literal_.empty()) return;
  for (size_t pos = text.find(literal_); pos != std::string_view::npos;
       pos = text.find(literal_, pos + literal_.size())) {
    out.emplace_back(pos, pos + literal_.size());
  }
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  std::vector<Span> spans;
  find_all(text, spans);
  if (spans.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t prev = 0;
  for (const auto& [b, e] : spans) {
    out.append(text.substr(prev, b - prev));
    out.append(content);
    prev = e;
  }
  out.append(text.substr(prev));
  return out;
}

}  // namespace ds::tok
