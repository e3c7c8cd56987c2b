#include "bench/sse_parser.h"

namespace ds::bench {
namespace {
// Position just past the first blank line in s, or npos.
size_t event_end(const std::string& s, size_t& body_len) {
  size_t best = std::string::npos;
  for (const char* sep : {"\n\n", "\r\n\r\n"}) {
    const size_t p = s.find(sep);
    if (p != std::string::npos && (best == std::string::npos || p < body_len)) {
      best = p + std::string_view(sep).size();
      body_len = p;
    }
  }
  return best;
}

std::string data_of(std::string_view ev) {
  std::string out;
  bool any = false;
  size_t a = 0;
  while (a < ev.size()) {
    size_t b = ev.find('\n', a);
    if (b == std::string_view::npos) b = ev.size();
    std::string_view line = ev.substr(a, b - a);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (any) out += '\n';
      out += line;
      any = true;
    }
    a = b + 1;
  }
  return out;
}
}  // namespace

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  buf_.append(bytes);
  std::vector<std::string> out;
  for (;;) {
    size_t body_len = std::string::npos;
    const size_t end = event_end(buf_, body_len);
    if (end == std::string::npos) break;
    std::string d = data_of(std::string_view(buf_).substr(0, body_len));
    if (!d.empty()) out.push_back(std::move(d));
    buf_.erase(0, end);
  }
  return out;
}
}  // namespace ds::bench
