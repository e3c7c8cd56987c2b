#pragma once
// StopChecker: finds stop strings in a stream of text deltas, across token boundaries. Text that
// might be the beginning of a stop string is held back until it is known not to be, so a client
// never sees a partial stop string. Thread: owned by one sequence.
#include <string>
#include <string_view>
#include <vector>

namespace ds {

class StopChecker {
 public:
  StopChecker(std::vector<std::string> stops, bool include_stop_str_in_output);

  struct Step {
    std::string emit;     // text safe to send now
    bool stopped = false; // a stop string matched; nothing after it is ever emitted
    std::string matched;  // which stop string
  };
  Step push(std::string_view delta);
  // End of the sequence without a stop: the held-back remainder.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  bool include_;
  std::string held_;
  size_t max_len_ = 0;
  bool stopped_ = false;  // once set, push() and flush() emit nothing
};

}  // namespace ds
