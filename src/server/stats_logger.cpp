#include "server/stats_logger.h"

#include <cstdio>

namespace ds {

StatsSnapshot StatsSnapshot::read(const EngineStats& s) {
  StatsSnapshot r;
  r.num_running = s.num_running.load();
  r.num_waiting = s.num_waiting.load();
  r.num_swapped = s.num_swapped.load();
  r.kv_cache_usage = s.kv_cache_usage.load();
  r.prompt_tokens_total = s.prompt_tokens_total.load();
  r.generation_tokens_total = s.generation_tokens_total.load();
  r.prefix_cache_queries = s.prefix_cache_queries.load();
  r.prefix_cache_hits = s.prefix_cache_hits.load();
  return r;
}

StatsLineBuilder::StatsLineBuilder(std::string kv_label) : kv_label_(std::move(kv_label)) {}

void StatsLineBuilder::start(const StatsSnapshot& s, Clock::time_point now) {
  prev_ = s;
  prev_time_ = now;
  last_was_idle_ = true;  // like vLLM: an idle server at start-up logs nothing
}

std::optional<std::string> StatsLineBuilder::next(const StatsSnapshot& s, Clock::time_point now) {
  const double dt = std::chrono::duration<double>(now - prev_time_).count();
  const int64_t d_prompt = s.prompt_tokens_total - prev_.prompt_tokens_total;
  const int64_t d_gen = s.generation_tokens_total - prev_.generation_tokens_total;
  const int64_t d_queries = s.prefix_cache_queries - prev_.prefix_cache_queries;
  const int64_t d_hits = s.prefix_cache_hits - prev_.prefix_cache_hits;
  const double prompt_tput = dt > 0 ? double(d_prompt) / dt : 0.0;
  const double gen_tput = dt > 0 ? double(d_gen) / dt : 0.0;
  // Hit rate over this interval's queries; with none, the lifetime rate (so idle intervals
  // don't read as 0%).
  double hit_rate = 0.0;
  if (d_queries > 0) {
    hit_rate = double(d_hits) / double(d_queries);
  } else if (s.prefix_cache_queries > 0) {
    hit_rate = double(s.prefix_cache_hits) / double(s.prefix_cache_queries);
  }
  prev_ = s;
  prev_time_ = now;

  const bool idle = d_prompt == 0 && d_gen == 0 && s.num_running == 0 && s.num_waiting == 0 && s.num_swapped == 0;
  const bool skip = idle && last_was_idle_;
  last_was_idle_ = idle;
  if (skip) return std::nullopt;

  char swapped[48] = "";
  if (s.num_swapped > 0) std::snprintf(swapped, sizeof(swapped), "Swapped: %lld reqs, ", (long long)s.num_swapped);
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
                "Running: %lld reqs, Waiting: %lld reqs, %s%s: %.1f%%, Prefix cache hit rate: %.1f%%",
                prompt_tput, gen_tput, (long long)s.num_running, (long long)s.num_waiting, swapped,
                kv_label_.c_str(), s.kv_cache_usage * 100.0, hit_rate * 100.0);
  return std::string(buf);
}

StatsLogger::StatsLogger(const EngineStats& stats, std::chrono::duration<double> interval, Sink sink,
                         std::string kv_label)
    : stats_(stats), interval_(interval), sink_(std::move(sink)), builder_(std::move(kv_label)) {
  if (interval_.count() <= 0 || !sink_) return;
  builder_.start(StatsSnapshot::read(stats_), StatsLineBuilder::Clock::now());
  thread_ = std::thread([this] { loop(); });
}

StatsLogger::~StatsLogger() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatsLogger::loop() {
  using Clock = StatsLineBuilder::Clock;
  const auto period = std::chrono::duration_cast<Clock::duration>(interval_);
  auto deadline = Clock::now() + period;
  std::unique_lock lock(mu_);
  while (!cv_.wait_until(lock, deadline, [this] { return stop_; })) {
    // Ticks on a fixed grid (no drift); after a stall, skip to the next future tick.
    const auto now = Clock::now();
    while (deadline <= now) deadline += period;
    lock.unlock();
    if (auto line = builder_.next(StatsSnapshot::read(stats_), now)) sink_(*line);
    lock.lock();
  }
}

}  // namespace ds
