#include "server/request_metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "exposition_checker.h"
#include "server/process_metrics.h"

namespace ds {
namespace {

using ds::testing::check_exposition;
using std::chrono::milliseconds;

ServerMetricsConfig config() {
  ServerMetricsConfig c;
  c.model_name = "deepseek-r1";
  c.max_model_len = 4096;
  c.max_num_batched_tokens = 1000;
  return c;
}

const std::vector<std::pair<std::string, std::string>> kModel = {{"model_name", "deepseek-r1"}};

TEST(ServerMetrics, VllmBucketLayouts) {
  EXPECT_EQ(ServerMetrics::buckets_1_2_5(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(ServerMetrics::buckets_1_2_5(4096).back(), 2000);
  EXPECT_EQ(ServerMetrics::ttft_buckets().size(), 22u);
  EXPECT_EQ(ServerMetrics::ttft_buckets().front(), 0.001);
  EXPECT_EQ(ServerMetrics::ttft_buckets().back(), 2560.0);
  EXPECT_EQ(ServerMetrics::inter_token_latency_buckets().size(), 19u);
  EXPECT_EQ(ServerMetrics::inter_token_latency_buckets().back(), 80.0);
  EXPECT_EQ(ServerMetrics::request_latency_buckets().size(), 21u);
  EXPECT_EQ(ServerMetrics::request_latency_buckets().back(), 7680.0);
  EXPECT_EQ(ServerMetrics::iteration_tokens_buckets(),
            (std::vector<double>{1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}));
}

TEST(ServerMetrics, RendersVllmNamesFromEngineStats) {
  ServerMetrics m(config());
  EngineStats st;
  st.num_running = 3;
  st.num_waiting = 2;
  st.num_swapped = 1;
  st.kv_cache_usage = 0.25;
  st.prompt_tokens_total = 120;
  st.generation_tokens_total = 345;
  st.prefix_cache_queries = 100;
  st.prefix_cache_hits = 40;
  st.num_preemptions_total = 7;
  st.finished_stop = 5;
  st.finished_length = 2;
  st.finished_abort = 1;
  auto ex = check_exposition(m.render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];

  EXPECT_EQ(ex.types["vllm:num_requests_running"], "gauge");
  EXPECT_EQ(ex.types["vllm:prompt_tokens_total"], "counter");
  EXPECT_EQ(ex.types["vllm:time_to_first_token_seconds"], "histogram");
  EXPECT_EQ(ex.value("vllm:num_requests_running", kModel), 3);
  EXPECT_EQ(ex.value("vllm:num_requests_waiting", kModel), 2);
  EXPECT_EQ(ex.value("vllm:num_requests_swapped", kModel), 1);
  EXPECT_EQ(ex.value("vllm:kv_cache_usage_perc", kModel), 0.25);
  EXPECT_EQ(ex.value("vllm:gpu_cache_usage_perc", kModel), 0.25);
  EXPECT_EQ(ex.value("vllm:prompt_tokens_total", kModel), 120);
  EXPECT_EQ(ex.value("vllm:generation_tokens_total", kModel), 345);
  EXPECT_EQ(ex.value("vllm:prefix_cache_queries_total", kModel), 100);
  EXPECT_EQ(ex.value("vllm:prefix_cache_hits_total", kModel), 40);
  EXPECT_EQ(ex.value("vllm:num_preemptions_total", kModel), 7);
  EXPECT_EQ(ex.value("vllm:request_success_total", {{"finished_reason", "stop"}}), 5);
  EXPECT_EQ(ex.value("vllm:request_success_total", {{"finished_reason", "length"}}), 2);
  EXPECT_EQ(ex.value("vllm:request_success_total", {{"finished_reason", "abort"}}), 1);
  EXPECT_EQ(ex.value("dsserve:max_num_batched_tokens"), 1000);
  // Families that only fill with traffic are still declared (dashboards see the series).
  for (const char* h : {"vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                        "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
                        "vllm:request_prompt_tokens", "vllm:request_generation_tokens",
                        "vllm:iteration_tokens_total"}) {
    EXPECT_EQ(ex.types[h], "histogram") << h;
    EXPECT_EQ(ex.value(std::string(h) + "_count", kModel), 0) << h;
  }
  EXPECT_TRUE(ex.errors.empty()) << ex.errors[0];
}

// vLLM's config info series: one gauge sample of 1 whose labels carry the cache flags; none when the
// config gives no labels.
TEST(ServerMetrics, CacheConfigInfo) {
  EngineStats st;
  {
    auto ex = check_exposition(ServerMetrics(config()).render(st));
    EXPECT_EQ(ex.types.count("vllm:cache_config_info"), 0u);
  }
  ServerMetricsConfig c = config();
  c.cache_config = {{"block_size", "16"}, {"cache_dtype", "bfloat16"}, {"num_gpu_blocks", "4096"}};
  auto ex = check_exposition(ServerMetrics(c).render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_EQ(ex.types["vllm:cache_config_info"], "gauge");
  EXPECT_EQ(ex.value("vllm:cache_config_info", {{"block_size", "16"}, {"cache_dtype", "bfloat16"},
                                                {"num_gpu_blocks", "4096"}}),
            1);
  size_t n = 0;
  for (const auto& smp : ex.samples) n += smp.name == "vllm:cache_config_info";
  EXPECT_EQ(n, 1u);
}

TEST(ServerMetrics, ProcessMetricsFromProc) {
  auto p = read_process_stats();
  ASSERT_TRUE(p.has_value());
  EXPECT_GT(p->resident_bytes, 1 << 20);
  EXPECT_GE(p->cpu_seconds, 0);
  EXPECT_GT(p->open_fds, 2);
  const double now = double(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count());
  EXPECT_LE(p->start_time_seconds, now + 2);
  EXPECT_GT(p->start_time_seconds, now - 3600 * 24);

  ServerMetrics m(config());
  EngineStats st;
  auto ex = check_exposition(m.render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_EQ(ex.types["process_cpu_seconds_total"], "counter");
  EXPECT_GT(ex.value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(ex.value("process_start_time_seconds"), 1.6e9);
}

TEST(ServerMetrics, RequestHistogramsObserveRecords) {
  ServerMetrics m(config());
  const auto t0 = MetricsClock::now();
  RequestRecord r;
  r.arrival = t0;
  r.scheduled = t0 + milliseconds(100);
  r.first_token = t0 + milliseconds(300);   // TTFT 0.3 s
  r.finished = t0 + milliseconds(1300);     // e2e 1.3 s
  r.inter_token_latencies_s = {0.02, 0.03, 0.2};
  r.prompt_tokens = 17;
  r.generation_tokens = 4;
  m.on_request_finished(r);

  EngineStats st;
  auto ex = check_exposition(m.render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_EQ(ex.value("vllm:time_to_first_token_seconds_count", kModel), 1);
  EXPECT_NEAR(ex.value("vllm:time_to_first_token_seconds_sum", kModel), 0.3, 1e-9);
  EXPECT_EQ(ex.value("vllm:time_to_first_token_seconds_bucket", {{"le", "0.25"}}), 0);
  EXPECT_EQ(ex.value("vllm:time_to_first_token_seconds_bucket", {{"le", "0.5"}}), 1);
  EXPECT_EQ(ex.value("vllm:inter_token_latency_seconds_count", kModel), 3);
  EXPECT_EQ(ex.value("vllm:inter_token_latency_seconds_bucket", {{"le", "0.025"}}), 1);
  EXPECT_EQ(ex.value("vllm:inter_token_latency_seconds_bucket", {{"le", "0.05"}}), 2);
  EXPECT_EQ(ex.value("vllm:time_per_output_token_seconds_count", kModel), 3);
  EXPECT_EQ(ex.value("vllm:e2e_request_latency_seconds_bucket", {{"le", "1.0"}}), 0);
  EXPECT_EQ(ex.value("vllm:e2e_request_latency_seconds_bucket", {{"le", "1.5"}}), 1);
  EXPECT_NEAR(ex.value("vllm:request_queue_time_seconds_sum", kModel), 0.1, 1e-9);
  EXPECT_NEAR(ex.value("vllm:request_prefill_time_seconds_sum", kModel), 0.2, 1e-9);
  EXPECT_NEAR(ex.value("vllm:request_decode_time_seconds_sum", kModel), 1.0, 1e-9);
  EXPECT_NEAR(ex.value("vllm:request_inference_time_seconds_sum", kModel), 1.2, 1e-9);
  EXPECT_EQ(ex.value("vllm:request_prompt_tokens_bucket", {{"le", "10.0"}}), 0);
  EXPECT_EQ(ex.value("vllm:request_prompt_tokens_bucket", {{"le", "20.0"}}), 1);
  EXPECT_EQ(ex.value("vllm:request_generation_tokens_sum", kModel), 4);
  EXPECT_EQ(ex.value("vllm:request_prompt_tokens_bucket", {{"le", "2000.0"}}), 1);
  EXPECT_TRUE(ex.errors.empty()) << ex.errors[0];

  // Without a scheduled time (engine did not report it) no queue time is observed.
  RequestRecord r2 = r;
  r2.scheduled.reset();
  r2.first_token.reset();
  m.on_request_finished(r2);
  ex = check_exposition(m.render(st));
  EXPECT_EQ(ex.value("vllm:request_queue_time_seconds_count", kModel), 1);
  EXPECT_EQ(ex.value("vllm:time_to_first_token_seconds_count", kModel), 1);
  EXPECT_EQ(ex.value("vllm:e2e_request_latency_seconds_count", kModel), 2);
}

TEST(ServerMetrics, IterationTokensAndBatchEfficiencyFromStepDeltas) {
  ServerMetrics m(config());
  EngineStats st;
  st.steps_total = 10;
  st.batched_tokens_total = 5000;  // 500 tokens/step of a 1000 budget
  auto ex = check_exposition(m.render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_DOUBLE_EQ(ex.value("dsserve:batch_efficiency", kModel), 0.5);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_count", kModel), 10);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_sum", kModel), 5000);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_bucket", {{"le", "256.0"}}), 0);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_bucket", {{"le", "512.0"}}), 10);
  EXPECT_EQ(ex.value("dsserve:engine_steps_total"), 10);

  st.steps_total = 30;               // +20 steps
  st.batched_tokens_total = 7000;    // +2000 tokens: 100 per step -> 0.1
  ex = check_exposition(m.render(st));
  EXPECT_DOUBLE_EQ(ex.value("dsserve:batch_efficiency", kModel), 0.1);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_count", kModel), 30);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_sum", kModel), 7000);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_bucket", {{"le", "128.0"}}), 20);
  EXPECT_EQ(ex.value("dsserve:batched_tokens_total"), 7000);

  ex = check_exposition(m.render(st));  // idle interval
  EXPECT_EQ(ex.value("dsserve:batch_efficiency", kModel), 0.0);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_count", kModel), 30);
  EXPECT_TRUE(ex.errors.empty()) << ex.errors[0];
}

TEST(ServerMetrics, ConcurrentRequestsAndScrapes) {
  ServerMetrics m(config());
  EngineStats st;
  constexpr int kThreads = 8, kPer = 1000;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread scraper([&] {
    while (!done) {
      st.steps_total++;
      st.batched_tokens_total += 64;
      if (!check_exposition(m.render(st)).errors.empty()) bad++;
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kPer; ++i) {
        const auto now = MetricsClock::now();
        RequestRecord r;
        r.arrival = now - milliseconds(50);
        r.first_token = now - milliseconds(10);
        r.finished = now;
        r.inter_token_latencies_s = {0.01};
        r.prompt_tokens = 3;
        r.generation_tokens = 2;
        m.on_request_finished(r);
      }
    });
  }
  for (auto& t : ts) t.join();
  done = true;
  scraper.join();
  EXPECT_EQ(bad.load(), 0);
  auto ex = check_exposition(m.render(st));
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_EQ(ex.value("vllm:e2e_request_latency_seconds_count", kModel), kThreads * kPer);
  EXPECT_EQ(ex.value("vllm:request_prompt_tokens_sum", kModel), 3 * kThreads * kPer);
  EXPECT_EQ(ex.value("vllm:request_generation_tokens_sum", kModel), 2 * kThreads * kPer);
  EXPECT_EQ(ex.value("vllm:inter_token_latency_seconds_count", kModel), kThreads * kPer);
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_count", kModel), double(st.steps_total.load()));
  EXPECT_EQ(ex.value("vllm:iteration_tokens_total_sum", kModel), double(st.batched_tokens_total.load()));
}

TEST(RequestTimer, BuildsRecordFromStreamEvents) {
  const auto t0 = MetricsClock::now();
  RequestTimer timer(t0);
  auto ev = [](int idx, int ntok) {
    StreamEvent e;
    e.index = idx;
    e.token_ids.assign(size_t(ntok), 1);
    return e;
  };
  timer.on_event(ev(0, 1), t0 + milliseconds(200));  // first token (choice 0)
  timer.on_event(ev(1, 1), t0 + milliseconds(201));  // first token of choice 1: no ITL
  timer.on_event(ev(0, 1), t0 + milliseconds(250));  // ITL 50 ms
  timer.on_event(ev(1, 2), t0 + milliseconds(252));  // ITL 51 ms (one sample per event)
  StreamEvent last;
  last.index = 0;
  last.finish_reason = FinishReason::kLength;
  last.done = true;
  last.usage.prompt_tokens = 9;
  last.usage.completion_tokens = 5;
  timer.on_event(last, t0 + milliseconds(260));
  ASSERT_TRUE(timer.ttft_ms().has_value());
  EXPECT_NEAR(*timer.ttft_ms(), 200.0, 1e-6);
  RequestRecord r = timer.finish(t0 + milliseconds(270));
  ASSERT_EQ(r.inter_token_latencies_s.size(), 2u);
  EXPECT_NEAR(r.inter_token_latencies_s[0], 0.050, 1e-9);
  EXPECT_NEAR(r.inter_token_latencies_s[1], 0.051, 1e-9);
  EXPECT_EQ(r.prompt_tokens, 9);
  EXPECT_EQ(r.generation_tokens, 5);
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.finished, t0 + milliseconds(270));

  RequestTimer no_tokens(t0);
  EXPECT_FALSE(no_tokens.ttft_ms().has_value());
  EXPECT_FALSE(no_tokens.finish(t0).first_token.has_value());
}

}  // namespace
}  // namespace ds
