#include "hub/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ds::hub {

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = double(n);
  int u = 0;
  while (v >= 1000.0 && u < 4) v /= 1000.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t done) {
  if (!enabled_) return;
  if (start_bytes_ < 0) start_bytes_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw(total_ >= 0 ? total_ : 0);
  std::fputc('\n', stderr);
}

void ProgressBar::draw(int64_t done) {
  constexpr int kWidth = 30;
  const double frac = total_ > 0 ? double(done) / double(total_) : 0.0;
  const int fill = int(frac * kWidth);
  std::string bar(size_t(fill), '#');
  bar.resize(kWidth, ' ');
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = sec > 0 ? double(done - std::max<int64_t>(start_bytes_, 0)) / sec : 0.0;
  std::string label = label_.size() > 40 ? "..." + label_.substr(label_.size() - 37) : label_;
  std::fprintf(stderr, "\r%-40s %3d%% |%s| %s/%s %s/s\x1b[K", label.c_str(), int(frac * 100), bar.c_str(),
               human_bytes(done).c_str(), total_ >= 0 ? human_bytes(total_).c_str() : "?",
               human_bytes(int64_t(rate)).c_str());
  std::fflush(stderr);
}

}  // namespace ds::hub
