// bench serve / users against a real `dsserve serve` on stories260k: the request and token counts
// the bench reports must equal the deltas of the server's own /metrics counters, and the mean TTFT
// must agree with the server's TTFT histogram.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/prom_scrape.h"
#include "bench/serve_bench.h"
#include "bench/users_bench.h"
#include "free_port.h"

extern char** environ;

namespace ds::bench {
namespace {

class LiveServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = std::string(DS_SHARED_DIR) + "/models/stories260k";
    if (!std::filesystem::exists(DSSERVE_BIN) || !std::filesystem::exists(model_)) return;
    port_ = testing::free_port();
    // stories260k has no chat template; a plain one lets the chat endpoint be measured too.
    const auto tmpl = std::filesystem::temp_directory_path() / "dsserve_bench_chat_template.jinja";
    std::ofstream(tmpl) << "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {DSSERVE_BIN, "serve", model_, "--port", port, "--served-model-name", "stories",
                                     "--log-interval", "0", "--threads", "1", "--num-kv-blocks", "1024", "--chat-template", tmpl.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, DSSERVE_BIN, nullptr, nullptr, argv.data(), environ) != 0) pid_ = 0;
    for (int i = 0; i < 600 && pid_; ++i) {  // up to 60 s for the model to load
      int status = 0;
      http_get(url(), "/health", "", 1, &status);
      if (status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
  }
  static void TearDownTestSuite() { stop(); }
  static void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
    pid_ = 0;
  }
  static std::string url() { return "http://127.0.0.1:" + std::to_string(port_); }
  void SetUp() override {
    ASSERT_NE(pid_, 0) << "dsserve serve did not start (binary or stories260k missing)";
  }
  static std::map<std::string, double> counters() {
    const std::string t = http_get(url(), "/metrics", "", 5);
    std::map<std::string, double> m;
    for (const char* n : {"vllm:request_success_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                          "vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count",
                          "vllm:inter_token_latency_seconds_sum", "vllm:inter_token_latency_seconds_count"})
      m[n] = prom_value(t, n).value_or(NAN);
    return m;
  }

  static inline pid_t pid_ = 0;
  static inline int port_ = 0;
  static inline std::string model_;
};

TEST_F(LiveServer, ServeCountsMatchServerMetrics) {
  for (const char* ep : {"/v1/completions", "/v1/chat/completions"}) {
    ServeBenchConfig c;
    c.endpoint.base_url = url();
    c.endpoint.path = ep;
    c.endpoint.timeout_s = 60;
    c.request.model = "stories";
    c.request.ignore_eos = true;
    c.tokenizer_dir = model_;
    c.dataset.num_prompts = 12;
    c.dataset.random_input_len = 24;
    c.dataset.random_output_len = 20;
    c.dataset.random_range_ratio = 0.5;
    c.max_concurrency = {4};
    c.quiet = true;
    const auto before = counters();
    auto runs = run_serve_bench(c);
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    const auto& m = (*runs)[0].metrics;
    // The server's histograms are filled from engine stats at scrape time and may trail the last
    // response by a moment: wait (up to 3 s) until its TTFT count has caught up.
    auto after = counters();
    for (int i = 0; i < 30 && after.at("vllm:time_to_first_token_seconds_count") -
                                      before.at("vllm:time_to_first_token_seconds_count") < double(m.completed); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      after = counters();
    }
    EXPECT_EQ(m.completed, 12) << ep;
    EXPECT_EQ(m.failed, 0) << ep;
    for (const auto& o : (*runs)[0].outputs)
      if (!o.success) ADD_FAILURE() << ep << ": " << error_kind_name(o.error_kind) << " " << o.error << " after " << o.latency << " s";
    EXPECT_EQ(double(m.completed), after.at("vllm:request_success_total") - before.at("vllm:request_success_total")) << ep;
    EXPECT_EQ(double(m.total_output), after.at("vllm:generation_tokens_total") - before.at("vllm:generation_tokens_total")) << ep;
    EXPECT_EQ(double(m.total_input), after.at("vllm:prompt_tokens_total") - before.at("vllm:prompt_tokens_total")) << ep;
    int64_t expected_out = 0;
    for (const auto& o : (*runs)[0].outputs) expected_out += o.output_tokens;
    EXPECT_EQ(m.total_output, expected_out);
    // Server-side mean TTFT (histogram sum/count) vs ours: ours adds the HTTP round trip only.
    const double n = after.at("vllm:time_to_first_token_seconds_count") - before.at("vllm:time_to_first_token_seconds_count");
    const double server_ttft_ms = (after.at("vllm:time_to_first_token_seconds_sum") - before.at("vllm:time_to_first_token_seconds_sum")) / n * 1000;
    EXPECT_EQ(n, 12) << ep;
    EXPECT_NEAR(m.ttft.mean, server_ttft_ms, 5 + 0.2 * server_ttft_ms) << ep;
    // Inter-token latency: the server's histogram mean vs ours, within its finest bucket (10 ms,
    // vLLM's first inter_token_latency boundary) plus 20% for the HTTP hop.
    const double itl_n = after.at("vllm:inter_token_latency_seconds_count") - before.at("vllm:inter_token_latency_seconds_count");
    ASSERT_GT(itl_n, 0) << ep;
    const double server_itl_ms =
        (after.at("vllm:inter_token_latency_seconds_sum") - before.at("vllm:inter_token_latency_seconds_sum")) / itl_n * 1000;
    EXPECT_NEAR(m.itl.mean, server_itl_ms, 10 + 0.2 * server_itl_ms) << ep;
  }
}

TEST_F(LiveServer, UsersCountsMatchServerMetrics) {
  UsersBenchConfig c;
  c.endpoint.base_url = url();
  c.endpoint.path = "/v1/chat/completions";
  c.endpoint.timeout_s = 60;
  c.request.model = "stories";
  c.request.ignore_eos = true;
  c.tokenizer_dir = model_;
  c.dataset.num_prompts = 20;
  c.dataset.random_input_len = 16;
  c.dataset.random_output_len = 12;
  c.users = 3;
  c.spawn_rate = 10;
  // 3 s: under CI's 2-core load beside the engine tests, 1.5 s once completed only the first 3.
  c.duration_s = 3;
  c.think_min_s = 0.05;
  c.think_max_s = 0.1;
  c.quiet = true;
  auto r = run_users_bench(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& j = r->summary;
  EXPECT_EQ(j["failed"], 0);
  EXPECT_GT(j["completed"].get<int64_t>(), 3);
  EXPECT_EQ(j["server_requests_delta"].get<double>(), j["completed"].get<double>());
  EXPECT_EQ(j["server_generation_tokens_delta"].get<double>(), j["total_output_tokens"].get<double>());
  EXPECT_EQ(j["server_prompt_tokens_delta"].get<double>(), j["total_input_tokens"].get<double>());
  EXPECT_GT(j["server_rss_bytes_after"].get<double>(), 0);
}
}  // namespace
}  // namespace ds::bench

namespace ds::bench {
namespace {
std::string run_cli(const std::string& args) {
  std::string out;
  if (FILE* p = popen((std::string(DSSERVE_BIN) + " " + args + " 2>&1").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

TEST(EngineBench, ThroughputAndLatencyRun) {
  const std::string model = std::string(DS_SHARED_DIR) + "/models/stories260k";
  ASSERT_TRUE(std::filesystem::exists(model)) << "stories260k missing at " << model;
  const std::string t = run_cli("bench throughput --model " + model +
                                " --num-prompts 8 --input-len 16 --output-len 8 --num-kv-blocks 256 --threads 1");
  EXPECT_NE(t.find("Throughput:"), std::string::npos) << t;
  EXPECT_NE(t.find("Total num output tokens:  64"), std::string::npos) << t;
  const std::string l = run_cli("bench latency --model " + model +
                                " --batch-size 2 --input-len 8 --output-len 8 --num-iters 2 --num-iters-warmup 1 "
                                "--num-kv-blocks 256 --threads 1");
  EXPECT_NE(l.find("Avg latency:"), std::string::npos) << l;
  EXPECT_NE(l.find("Decode step: mean"), std::string::npos) << l;
}
}  // namespace
}  // namespace ds::bench
