#pragma once
// One-line download progress on stderr, redrawn at most 10 times a second, only when stderr is a
// terminal (logs and pipes get one line per finished file from the caller instead).
#include <chrono>
#include <cstdint>
#include <string>

namespace ds::hub {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  void update(int64_t done);
  void finish();  // draws 100% and ends the line

 private:
  void draw(int64_t done);
  std::string label_;
  int64_t total_;
  bool enabled_;
  int64_t start_bytes_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

bool stderr_is_terminal();
std::string human_bytes(int64_t n);  // "1.5 GB"

}  // namespace ds::hub
