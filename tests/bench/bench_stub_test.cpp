// bench serve / users against the stub server: known TTFT 50 ms, 20 ms per token, 16 tokens, so
// TTFT = 50 ms, ITL = TPOT = 20 ms, E2E = 50 + 15 * 20 = 350 ms per request.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/datasets.h"
#include "bench/prom_scrape.h"
#include "bench/request_func.h"
#include "bench/serve_bench.h"
#include "bench/serve_runner.h"
#include "bench/sse_parser.h"
#include "bench/stats.h"
#include "bench/users_bench.h"
#include "free_port.h"
#include "stub_server.h"

namespace ds::bench {
namespace {
using testing::StubOptions;
using testing::StubServer;

#define expect_near_pct(got, want, ...) expect_near_pct_at(__LINE__, #got, got, want, ##__VA_ARGS__)
void expect_near_pct_at(int line, const char* what, double got, double want, double pct = 5.0) {
  EXPECT_NEAR(got, want, want * pct / 100.0) << "line " << line << ": " << what;
}

ServeBenchConfig config(const std::string& url, int64_t n, std::vector<int64_t> conc = {1}) {
  ServeBenchConfig c;
  c.endpoint.base_url = url;
  c.endpoint.timeout_s = 10;
  c.request.model = "stub";
  c.dataset.num_prompts = n;
  c.dataset.random_input_len = 8;
  c.dataset.random_output_len = 16;
  c.max_concurrency = std::move(conc);
  c.metric_percentiles = {50, 90, 99};
  c.warmup = 1;  // the first connection to a fresh stub costs a few ms more
  c.quiet = true;
  return c;
}

TEST(Stats, NumpyPercentiles) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 99), 3.97);
  EXPECT_DOUBLE_EQ(percentile({5}, 99), 5);
  EXPECT_DOUBLE_EQ(percentile({}, 99), 0);
  EXPECT_DOUBLE_EQ(stddev({1, 3}), 1);
}

// Sampling fields reach the request body only when set (the server's defaults apply otherwise).
TEST(RequestBody, SamplingFieldsOnlyWhenSet) {
  Endpoint ep;
  ep.path = "/v1/completions";
  RequestOptions opt;
  opt.model = "m";
  RequestInput in;
  in.prompt_ids = {1, 2, 3};
  nlohmann::json b = build_body(ep, opt, in);
  EXPECT_EQ(b["temperature"], 0.0);
  EXPECT_FALSE(b.contains("top_p"));
  EXPECT_FALSE(b.contains("top_k"));
  EXPECT_FALSE(b.contains("min_p"));
  opt.temperature = 0.6, opt.top_p = 0.95, opt.top_k = 40, opt.min_p = 0.05;
  b = build_body(ep, opt, in);
  EXPECT_EQ(b["temperature"], 0.6);
  EXPECT_EQ(b["top_p"], 0.95);
  EXPECT_EQ(b["top_k"], 40);
  EXPECT_EQ(b["min_p"], 0.05);
  EXPECT_EQ(b["prompt"], nlohmann::json::array({1, 2, 3}));
}

TEST(Sse, SplitAnywhere) {
  SseParser p;
  const std::string s = "data: {\"a\":1}\n\ndata: [DONE]\r\n\r\n";
  std::vector<std::string> got;
  for (char ch : s)
    for (auto& e : p.feed(std::string_view(&ch, 1))) got.push_back(e);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "{\"a\":1}");
  EXPECT_EQ(got[1], "[DONE]");
  EXPECT_EQ(p.pending(), 0u);
}

TEST(Datasets, RandomLengthsAndRange) {
  DatasetOptions o;
  o.num_prompts = 50;
  o.random_input_len = 100;
  o.random_output_len = 10;
  o.random_range_ratio = 0.5;
  o.random_prefix_len = 7;
  auto d = make_dataset(o, nullptr);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 50u);
  for (const auto& r : *d) {
    EXPECT_GE(r.prompt_len, 7 + 50);
    EXPECT_LE(r.prompt_len, 7 + 150);
    EXPECT_EQ(int64_t(r.prompt_ids.size()), r.prompt_len);
    EXPECT_GE(r.output_len, 5);
    EXPECT_LE(r.output_len, 15);
  }
  o.name = "prefix_repetition";
  o.num_prefixes = 3;
  o.prefix_len = 5;
  o.suffix_len = 4;
  auto p = make_dataset(o, nullptr);
  ASSERT_TRUE(p.ok());
  for (const auto& r : *p) EXPECT_EQ(r.prompt_len, 9);
  o.name = "nope";
  EXPECT_FALSE(make_dataset(o, nullptr).ok());
}

TEST(Datasets, ShareGpt) {
  const auto path = std::filesystem::temp_directory_path() / "dsserve_bench_sharegpt.json";
  std::ofstream(path) << R"([{"conversations":[{"from":"human","value":"Tell me a story about a cat please"},
    {"from":"gpt","value":"Once upon a time there was a cat who sat on a mat all day long."}]},
    {"conversations":[{"from":"human","value":"hi"}]}])";
  DatasetOptions o;
  o.name = "sharegpt";
  o.path = path.string();
  o.num_prompts = 10;
  auto d = make_dataset(o, nullptr);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].prompt_text, "Tell me a story about a cat please");
  EXPECT_GT((*d)[0].output_len, 4);
}

// Timing checks on a shared 2-core machine: one descheduled request can move a P99 by 30 ms, so a
// run that misses is repeated (up to 5 runs); every check must hold in one run. Means and medians
// must be within 5%; a tail percentile (P90, P99: the slowest of 8 samples) only within 5% below
// and 50% above, since the stub's timings can come late on a busy machine but never early (a
// measurement from the wrong point would move the median too).
bool within(double got, double want, std::string& why, const char* what, double above = 0.05) {
  if (got >= want * 0.95 && got <= want * (1 + above)) return true;
  why += std::string(what) + " = " + std::to_string(got) + " (want " + std::to_string(want) + "); ";
  return false;
}
bool within_tail(double got, double want, std::string& why, const char* what) { return within(got, want, why, what, 0.5); }

TEST(BenchServe, KnownTimingsSequential) {
  StubServer stub({});
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    why.clear();
    auto runs = run_serve_bench(config(stub.url(), 8));
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    const auto& m = (*runs)[0].metrics;
    ASSERT_EQ(m.completed, 8);
    ASSERT_EQ(m.failed, 0);
    ASSERT_EQ(m.total_output, 8 * 16);
    ASSERT_EQ(m.total_input, 8 * 7);  // the usage chunk's prompt_tokens
    ASSERT_EQ(m.max_concurrent_requests, 1);
    const auto& j = (*runs)[0].result;
    for (const char* k : {"completed", "failed", "request_throughput", "output_throughput", "total_token_throughput",
                          "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_itl_ms", "median_e2el_ms",
                          "input_lens", "output_lens", "ttfts", "itls", "errors", "max_concurrency", "requests"})
      EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["requests"].size(), 8u);
    bool ok = within(m.ttft.mean, 50, why, "mean TTFT") & within(m.ttft.median, 50, why, "median TTFT") &
              within(m.tpot.mean, 20, why, "mean TPOT") & within(m.tpot.median, 20, why, "median TPOT") &
              within(m.itl.mean, 20, why, "mean ITL") & within(m.itl.median, 20, why, "median ITL") &
              within(m.e2el.mean, 350, why, "mean E2EL") & within(m.e2el.median, 350, why, "median E2EL");
    const auto pct = [&why](const auto& percentiles, double want, const char* what) {
      bool all = true;
      for (auto& [p, v] : percentiles) all &= p > 50 ? within_tail(v, want, why, what) : within(v, want, why, what);
      return all;
    };
    ok &= pct(m.e2el.percentiles, 350, "E2EL percentile") & pct(m.ttft.percentiles, 50, "TTFT percentile") &
          pct(m.tpot.percentiles, 20, "TPOT percentile") & pct(m.itl.percentiles, 20, "ITL percentile");
    // Sequential: 8 requests of 350 ms each.
    ok &= within(m.duration, 8 * 0.350, why, "duration") & within(m.request_throughput, 1 / 0.350, why, "req/s") &
          within(m.output_throughput, 16 / 0.350, why, "output tok/s") &
          within(m.total_token_throughput, 23 / 0.350, why, "total tok/s");
    if (ok) return;
  }
  ADD_FAILURE() << why;
}

TEST(BenchServe, ChatEndpointAndGoodput) {
  StubServer stub({});
  auto c = config(stub.url(), 4, {2});
  c.endpoint.path = "/v1/chat/completions";
  c.goodput = {"ttft:100", "tpot:10"};  // TPOT 20 ms misses the 10 ms objective: goodput 0
  auto runs = run_serve_bench(c);
  ASSERT_TRUE(runs.ok());
  const auto& m = (*runs)[0].metrics;
  EXPECT_EQ(m.completed, 4);
  EXPECT_TRUE(m.has_goodput);
  EXPECT_EQ(m.request_goodput, 0);
  expect_near_pct(m.ttft.median, 50, 20);  // timing itself is checked in KnownTimingsSequential
  c.goodput = {"ttft:100", "tpot:30"};
  auto runs2 = run_serve_bench(c);
  // Every request meets ttft <= 100 ms and tpot <= 30 ms unless the machine stalls it.
  EXPECT_GT((*runs2)[0].metrics.request_goodput, 0.5 * (*runs2)[0].metrics.request_throughput);
  c.goodput = {"latency:5"};
  EXPECT_FALSE(run_serve_bench(c).ok());
}

TEST(BenchServe, ConcurrencySweep) {
  StubServer stub({});
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    why.clear();
    auto c = config(stub.url(), 8, {1, 4});
    const auto dir = std::filesystem::temp_directory_path() / "dsserve_bench_sweep";
    std::filesystem::remove_all(dir);
    c.save_result = true;
    c.result_dir = dir.string();
    c.result_filename = "r.json";
    c.plot_dir = (dir / "plots").string();
    auto runs = run_serve_bench(c);
    ASSERT_TRUE(runs.ok());
    ASSERT_EQ(runs->size(), 2u);
    const auto& m1 = (*runs)[0].metrics;
    const auto& m4 = (*runs)[1].metrics;
    EXPECT_EQ(m1.max_concurrent_requests, 1);
    EXPECT_EQ(m4.max_concurrent_requests, 4);
    EXPECT_TRUE(std::filesystem::exists(dir / "r-c1.json"));
    EXPECT_TRUE(std::filesystem::exists(dir / "r-c4.json"));
    for (const char* f : {"ttft_hist_c1.svg", "tpot_cdf_c4.svg", "throughput_over_time_c4.svg", "latency_over_time_c1.svg",
                          "sweep_throughput_latency.svg", "sweep_throughput.svg"})
      EXPECT_TRUE(std::filesystem::exists(dir / "plots" / f)) << f;
    // 8 requests of 350 ms, 4 at a time: two waves.
    if (within(m1.request_throughput, 1 / 0.350, why, "c1 req/s") & within(m4.duration, 2 * 0.350, why, "c4 duration") &
        within(m4.request_throughput, 4 / 0.350, why, "c4 req/s") & within(m4.tpot.median, 20, why, "c4 TPOT") &
        within(m4.ttft.median, 50, why, "c4 TTFT") & within(m4.itl.median, 20, why, "c4 ITL"))
      return;
  }
  ADD_FAILURE() << why;
}

TEST(BenchServe, PoissonArrivals) {
  auto t = arrival_times(2000, 10.0, 1.0, 3);
  ASSERT_EQ(t.size(), 2000u);
  EXPECT_EQ(t[0], 0);
  expect_near_pct(t.back() / 1999.0, 0.1, 6);  // mean gap 1/rate
  auto inf = arrival_times(5, INFINITY, 1.0, 3);
  for (double x : inf) EXPECT_EQ(x, 0);
}

TEST(BenchServe, RefusedConnectionsAreCounted) {
  const int port = testing::free_port();  // nothing listens there: connections are refused
  auto runs = run_serve_bench(config("http://127.0.0.1:" + std::to_string(port), 5, {2}));
  ASSERT_TRUE(runs.ok());
  const auto& m = (*runs)[0].metrics;
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 5);
  EXPECT_EQ(m.errors_by_kind.at("connect"), 5);
}

TEST(BenchServe, Http500And400AreCounted) {
  StubOptions o;
  o.mode = StubOptions::k500;
  StubServer stub(o);
  auto runs = run_serve_bench(config(stub.url(), 4, {2}));
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ((*runs)[0].metrics.failed, 4);
  EXPECT_EQ((*runs)[0].metrics.errors_by_kind.at("http_5xx"), 4);
  EXPECT_NE((*runs)[0].outputs[0].error.find("500"), std::string::npos);
  o.mode = StubOptions::k400;
  StubServer stub4(o);
  auto r4 = run_serve_bench(config(stub4.url(), 3, {}));
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ((*r4)[0].metrics.errors_by_kind.at("http_4xx"), 3);
}

TEST(BenchServe, CutStreamsAreCounted) {
  StubOptions o;
  o.mode = StubOptions::kCut;
  o.ttft_ms = 5;
  o.tpot_ms = 2;
  StubServer stub(o);
  auto runs = run_serve_bench(config(stub.url(), 4, {2}));
  ASSERT_TRUE(runs.ok());
  const auto& m = (*runs)[0].metrics;
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 4);
  EXPECT_EQ(m.errors_by_kind.at("stream_cut"), 4);
  EXPECT_EQ(m.total_output, 0);
}

TEST(BenchUsers, ParseDurations) {
  EXPECT_DOUBLE_EQ(*parse_duration("10m"), 600);
  EXPECT_DOUBLE_EQ(*parse_duration("90s"), 90);
  EXPECT_DOUBLE_EQ(*parse_duration("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(*parse_duration("45"), 45);
  EXPECT_FALSE(parse_duration("abc").ok());
  auto t = parse_think_time("0.5-2s");
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->first, 0.5);
  EXPECT_DOUBLE_EQ(t->second, 2);
  EXPECT_DOUBLE_EQ(parse_think_time("500ms")->first, 0.5);
  EXPECT_DOUBLE_EQ(parse_think_time("100-200ms")->second, 0.2);
}

TEST(BenchUsers, ClosedLoopWithRampUp) {
  StubServer stub({});
  UsersBenchConfig c;
  c.endpoint.base_url = stub.url();
  c.endpoint.path = "/v1/chat/completions";
  c.request.model = "stub";
  c.dataset.num_prompts = 10;
  c.dataset.random_input_len = 8;
  c.users = 4;
  c.spawn_rate = 20;       // all 4 started within 0.2 s
  c.duration_s = 1.5;
  c.think_min_s = c.think_max_s = 0.15;  // cycle = 350 + 150 ms
  c.quiet = true;
  auto r = run_users_bench(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->peak_users, 4);
  const auto& j = r->summary;
  EXPECT_EQ(j["failed"], 0);
  // Each user starts at most ceil(1.5 / 0.5) = 3 requests, and every started one finishes.
  EXPECT_GE(j["completed"].get<int64_t>(), 8);
  EXPECT_LE(j["completed"].get<int64_t>(), 12);
  expect_near_pct(j["median_latency_ms"].get<double>(), 350, 10);  // exact timing: the bench serve tests
  expect_near_pct(j["median_ttft_ms"].get<double>(), 50, 10);
  expect_near_pct(j["median_tpot_ms"].get<double>(), 20, 10);  // the stub's 20 ms between 16 tokens
  EXPECT_EQ(j["server_rss_bytes_after"], 1048576.0);
  EXPECT_EQ(stub.requests(), j["completed"].get<int64_t>());
}

TEST(PromScrape, SumsLabelSets) {
  const std::string t =
      "# HELP x\nvllm:request_success_total{finished_reason=\"stop\",model_name=\"m a\"} 3\n"
      "vllm:request_success_total{finished_reason=\"length\"} 4\nprocess_resident_memory_bytes 1.5e+06\n";
  EXPECT_EQ(*prom_value(t, "vllm:request_success_total"), 7);
  EXPECT_EQ(*prom_value(t, "process_resident_memory_bytes"), 1.5e6);
  EXPECT_FALSE(prom_value(t, "nope").has_value());
}
}  // namespace
}  // namespace ds::bench
