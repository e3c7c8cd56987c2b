#include "server/stats_logger.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

namespace ds {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(StatsLineBuilder, RatesFromScriptedEngineStats) {
  StatsLineBuilder b;
  const auto t0 = StatsLineBuilder::Clock::now();
  StatsSnapshot s;
  b.start(s, t0);

  // Interval 1 (10 s): 1200 prompt tokens, 350 generated, 40 of 80 queried tokens cached.
  s.prompt_tokens_total = 1200;
  s.generation_tokens_total = 350;
  s.num_running = 3;
  s.num_waiting = 1;
  s.kv_cache_usage = 0.123;
  s.prefix_cache_queries = 80;
  s.prefix_cache_hits = 40;
  auto line = b.next(s, t0 + seconds(10));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line,
            "Avg prompt throughput: 120.0 tokens/s, Avg generation throughput: 35.0 tokens/s, "
            "Running: 3 reqs, Waiting: 1 reqs, GPU KV cache usage: 12.3%, Prefix cache hit rate: 50.0%");

  // Interval 2 (5 s): only decode; 20 more queries with 15 hits -> 75% for this interval.
  s.generation_tokens_total = 350 + 500;
  s.prefix_cache_queries = 100;
  s.prefix_cache_hits = 55;
  s.num_swapped = 2;
  line = b.next(s, t0 + seconds(15));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line,
            "Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 100.0 tokens/s, "
            "Running: 3 reqs, Waiting: 1 reqs, Swapped: 2 reqs, GPU KV cache usage: 12.3%, "
            "Prefix cache hit rate: 75.0%");

  // Interval 3: everything finished; one all-zero line (like vLLM), hit rate falls back to the
  // lifetime rate (55/100), then silence while idle.
  s.num_running = s.num_waiting = s.num_swapped = 0;
  s.kv_cache_usage = 0;
  line = b.next(s, t0 + seconds(20));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line,
            "Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 0.0 tokens/s, "
            "Running: 0 reqs, Waiting: 0 reqs, GPU KV cache usage: 0.0%, Prefix cache hit rate: 55.0%");
  EXPECT_FALSE(b.next(s, t0 + seconds(25)).has_value());
  EXPECT_FALSE(b.next(s, t0 + seconds(30)).has_value());

  // Work resumes: lines again.
  s.prompt_tokens_total += 50;
  line = b.next(s, t0 + seconds(35));
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("Avg prompt throughput: 10.0 tokens/s"), std::string::npos) << *line;
}

TEST(StatsLineBuilder, IdleAtStartLogsNothingButQueuedWorkDoes) {
  StatsLineBuilder b("CPU KV cache usage");
  const auto t0 = StatsLineBuilder::Clock::now();
  StatsSnapshot s;
  b.start(s, t0);
  EXPECT_FALSE(b.next(s, t0 + seconds(1)).has_value());
  s.num_waiting = 4;  // requests queued but no tokens yet: still worth a line
  auto line = b.next(s, t0 + seconds(2));
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("Waiting: 4 reqs, CPU KV cache usage: 0.0%"), std::string::npos) << *line;
}

TEST(StatsSnapshot, ReadsEngineStats) {
  EngineStats st;
  st.num_running = 5;
  st.kv_cache_usage = 0.5;
  st.generation_tokens_total = 42;
  StatsSnapshot s = StatsSnapshot::read(st);
  EXPECT_EQ(s.num_running, 5);
  EXPECT_EQ(s.kv_cache_usage, 0.5);
  EXPECT_EQ(s.generation_tokens_total, 42);
}

TEST(StatsLogger, LogsPeriodicallyAndStopsPromptly) {
  EngineStats st;
  std::mutex mu;
  std::vector<std::string> got;
  auto start = std::chrono::steady_clock::now();
  {
    StatsLogger logger(st, milliseconds(50), [&](const std::string& l) {
      std::lock_guard lock(mu);
      got.push_back(l);
    });
    for (int i = 0; i < 6; ++i) {
      st.generation_tokens_total += 100;
      st.num_running = 1;
      std::this_thread::sleep_for(milliseconds(40));
    }
    start = std::chrono::steady_clock::now();
  }  // destructor: must not wait out a full interval
  const auto stop_time = std::chrono::steady_clock::now() - start;
  EXPECT_LT(stop_time, milliseconds(40));
  std::lock_guard lock(mu);
  ASSERT_GE(got.size(), 2u);
  for (const auto& l : got) {
    EXPECT_EQ(l.rfind("Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: ", 0), 0u) << l;
    EXPECT_NE(l.find("Running: 1 reqs"), std::string::npos) << l;
  }
}

TEST(StatsLogger, LongIntervalStillStopsPromptly) {
  EngineStats st;
  const auto t0 = std::chrono::steady_clock::now();
  { StatsLogger logger(st, seconds(3600), [](const std::string&) {}); }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  { StatsLogger disabled(st, seconds(0), [](const std::string&) { FAIL(); }); }
}

}  // namespace
}  // namespace ds
