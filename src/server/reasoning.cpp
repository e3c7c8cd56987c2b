#include "server/reasoning.h"

namespace ds::server {
namespace {
constexpr std::string_view kStart = "<think>";
constexpr std::string_view kEnd = "</think>";

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}
}  // namespace

ReasoningParser::Delta ReasoningParser::push(std::string_view text) {
  Delta d;
  std::string buf = std::move(held_);
  held_.clear();
  buf.append(text);
  if (at_start_) {
    if (buf.size() < kStart.size() && kStart.substr(0, buf.size()) == buf) {
      held_ = std::move(buf);  // could still become "<think>"
      return d;
    }
    at_start_ = false;
    if (std::string_view(buf).substr(0, kStart.size()) == kStart) buf.erase(0, kStart.size());
  }
  if (!reasoning_) {
    d.content = std::move(buf);
    return d;
  }
  const size_t end = buf.find(kEnd);
  if (end != std::string::npos) {
    d.reasoning = buf.substr(0, end);
    d.content = buf.substr(end + kEnd.size());
    reasoning_ = false;
    return d;
  }
  const size_t keep = partial_tag_suffix(buf, kEnd);
  held_ = buf.substr(buf.size() - keep);
  d.reasoning = buf.substr(0, buf.size() - keep);
  return d;
}

ReasoningParser::Delta ReasoningParser::flush() {
  Delta d;
  (reasoning_ ? d.reasoning : d.content) = std::move(held_);
  held_.clear();
  at_start_ = false;
  return d;
}

}  // namespace ds::server
