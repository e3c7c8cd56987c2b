#pragma once
// Incremental Server-Sent Events parser: feed() raw bytes as they arrive (any split), get back the
// `data:` payload of every complete event. Events end at a blank line ("\n\n" or "\r\n\r\n").
#include <string>
#include <string_view>
#include <vector>

namespace ds::bench {
class SseParser {
 public:
  // Returns the data payloads of the events completed by these bytes (multi-line data joined by \n).
  std::vector<std::string> feed(std::string_view bytes);
  // Bytes received but not yet part of a complete event.
  size_t pending() const { return buf_.size(); }

 private:
  std::string buf_;
};
}  // namespace ds::bench
