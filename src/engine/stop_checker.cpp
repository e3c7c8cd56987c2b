#include "engine/stop_checker.h"

#include <algorithm>
#include <optional>

namespace ds {
namespace {

struct Match {
  size_t pos;
  size_t stop_index;
};

// Earliest start wins; at the same start the shorter stop (it completes first in a stream).
std::optional<Match> earliest_match(const std::string& text, const std::vector<std::string>& stops) {
  std::optional<Match> best;
  for (size_t i = 0; i < stops.size(); ++i) {
    const size_t pos = text.find(stops[i]);
    if (pos == std::string::npos) continue;
    if (!best || pos < best->pos || (pos == best->pos && stops[i].size() < stops[best->stop_index].size())) {
      best = Match{pos, i};
    }
  }
  return best;
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string.
size_t partial_stop_suffix(const std::string& text, const std::vector<std::string>& stops, size_t max_len) {
  const size_t longest = std::min(text.size(), max_len == 0 ? 0 : max_len - 1);
  for (size_t k = longest; k > 0; --k) {
    for (const std::string& s : stops) {
      if (s.size() > k && s.compare(0, k, text, text.size() - k, k) == 0) return k;
    }
  }
  return 0;
}

// Bytes of an unfinished UTF-8 character at the end of `text` (0 when it ends on a boundary).
// Deltas from the incremental detokenizer are whole characters; this guards any other caller.
size_t incomplete_utf8_tail(const std::string& text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const auto b = static_cast<unsigned char>(text[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

StopChecker::StopChecker(std::vector<std::string> stops, bool include_stop_str_in_output)
    : include_(include_stop_str_in_output) {
  for (std::string& s : stops) {
    if (s.empty()) continue;  // SamplingParams::validate rejects these; an empty stop would match at once
    max_len_ = std::max(max_len_, s.size());
    stops_.push_back(std::move(s));
  }
}

StopChecker::Step StopChecker::push(std::string_view delta) {
  Step step;
  if (stopped_) {
    step.stopped = true;
    return step;
  }
  held_.append(delta);
  if (const std::optional<Match> m = earliest_match(held_, stops_)) {
    const std::string& stop = stops_[m->stop_index];
    step.emit = held_.substr(0, m->pos + (include_ ? stop.size() : 0));
    step.stopped = true;
    step.matched = stop;
    held_.clear();
    stopped_ = true;
    return step;
  }
  const size_t keep = std::max(partial_stop_suffix(held_, stops_, max_len_), incomplete_utf8_tail(held_));
  step.emit = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return step;
}

std::string StopChecker::flush() {
  if (stopped_) return {};
  std::string rest = std::move(held_);
  held_.clear();
  return rest;
}

}  // namespace ds
