#pragma once
// StatsLogger: every --log-interval seconds, one line like vLLM's
//   Avg prompt throughput: 120.5 tokens/s, Avg generation throughput: 33.0 tokens/s,
//   Running: 3 reqs, Waiting: 0 reqs, GPU KV cache usage: 4.2%, Prefix cache hit rate: 50.0%
// computed from the deltas of ds::EngineStats between two ticks (never through the engine
// thread). Like vLLM, an idle engine logs nothing after one all-zero line.
//
// Threads: StatsLogger owns one background thread; the constructor starts it and the destructor
// stops it promptly (a condition variable, not a sleep). The sink is called on that thread.
// StatsLineBuilder is not thread-safe (one owner), and is what the thread runs; tests drive it.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/engine.h"

namespace ds {

struct StatsSnapshot {
  int64_t num_running = 0, num_waiting = 0, num_swapped = 0;
  double kv_cache_usage = 0;  // 0..1
  int64_t prompt_tokens_total = 0, generation_tokens_total = 0;
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;
  static StatsSnapshot read(const EngineStats& s);
};

class StatsLineBuilder {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StatsLineBuilder(std::string kv_label = "GPU KV cache usage");
  // Sets the baseline without producing a line.
  void start(const StatsSnapshot& s, Clock::time_point now);
  // The line for the interval since the previous call, or nullopt when the engine was idle in
  // this and the previous interval (vLLM logs those at debug level only).
  std::optional<std::string> next(const StatsSnapshot& s, Clock::time_point now);

 private:
  std::string kv_label_;
  StatsSnapshot prev_;
  Clock::time_point prev_time_;
  bool last_was_idle_ = false;
};

class StatsLogger {
 public:
  using Sink = std::function<void(const std::string& line)>;
  // `stats` must outlive the logger. interval <= 0 disables logging (no thread).
  StatsLogger(const EngineStats& stats, std::chrono::duration<double> interval, Sink sink,
              std::string kv_label = "GPU KV cache usage");
  ~StatsLogger();  // stops and joins the thread (returns within one wake-up, not one interval)
  StatsLogger(const StatsLogger&) = delete;
  StatsLogger& operator=(const StatsLogger&) = delete;

 private:
  void loop();

  const EngineStats& stats_;
  std::chrono::duration<double> interval_;
  Sink sink_;
  StatsLineBuilder builder_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ds
