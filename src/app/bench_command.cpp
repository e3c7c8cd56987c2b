// `dsserve bench serve|users`: load generators against any OpenAI-compatible server (this one,
// vLLM, SGLang...). `serve` is vLLM's `vllm bench serve` (same flag names, same result-file
// fields); `users` is the deployment guide's Locust-style closed-loop scenario. The work lives in
// src/bench; this file only maps flags.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "app/commands.h"
#include "bench/serve_bench.h"
#include "bench/users_bench.h"

namespace ds::app {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct CommonArgs {
  std::string base_url, host = "127.0.0.1", endpoint;
  int port = 8000;
  std::string api_key;
  std::string model;
  double timeout = 3600;
};

void add_common(CLI::App* c, CommonArgs& a, const char* default_endpoint) {
  a.endpoint = default_endpoint;
  c->add_option("--base-url", a.base_url, "Server URL, e.g. http://127.0.0.1:8000 (overrides --host/--port)");
  c->add_option("--host", a.host, "Server host when --base-url is not given")->capture_default_str();
  c->add_option("--port", a.port, "Server port when --base-url is not given")->capture_default_str();
  c->add_option("--endpoint", a.endpoint, "/v1/completions or /v1/chat/completions")->capture_default_str();
  c->add_option("--model", a.model, "Model name sent in requests")->required();
  c->add_option("--api-key", a.api_key, "Bearer token (default: $OPENAI_API_KEY)");
  c->add_option("--request-timeout", a.timeout, "Seconds before one request counts as timed out")->capture_default_str();
}

bench::Endpoint endpoint_of(const CommonArgs& a) {
  bench::Endpoint e;
  e.base_url = a.base_url.empty() ? "http://" + a.host + ":" + std::to_string(a.port) : a.base_url;
  while (!e.base_url.empty() && e.base_url.back() == '/') e.base_url.pop_back();
  // vLLM accepts --base-url ending in /v1 together with --endpoint /v1/...; keep one /v1.
  if (e.base_url.size() >= 3 && e.base_url.ends_with("/v1") && a.endpoint.starts_with("/v1/"))
    e.base_url.resize(e.base_url.size() - 3);
  e.path = a.endpoint;
  e.api_key = a.api_key;
  if (e.api_key.empty())
    if (const char* k = std::getenv("OPENAI_API_KEY")) e.api_key = k;
  e.timeout_s = a.timeout;
  return e;
}

void add_dataset(CLI::App* c, bench::DatasetOptions& d, std::string& tokenizer) {
  c->add_option("--dataset-name", d.name, "random, sharegpt or prefix_repetition")->capture_default_str();
  c->add_option("--dataset-path", d.path, "ShareGPT JSON file (sharegpt)");
  c->add_option("--num-prompts", d.num_prompts, "Number of prompts")->capture_default_str();
  c->add_option("--seed", d.seed, "Random seed (datasets and arrivals)")->capture_default_str();
  c->add_option("--tokenizer", tokenizer, "Tokenizer directory (tokenizer.json): exact lengths and text prompts");
  c->add_option("--random-input-len", d.random_input_len)->capture_default_str();
  c->add_option("--random-output-len", d.random_output_len)->capture_default_str();
  c->add_option("--random-range-ratio", d.random_range_ratio, "Lengths vary in [len*(1-r), len*(1+r)]")->capture_default_str();
  c->add_option("--random-prefix-len", d.random_prefix_len, "Shared random prefix prepended to every prompt")->capture_default_str();
  c->add_option("--random-vocab-size", d.vocab_size, "Id range of random prompts (default: tokenizer's, else 256)");
  c->add_option("--sharegpt-output-len", d.sharegpt_output_len, "Fixed output length for sharegpt (default: recorded answer's)");
  c->add_option("--prefix-repetition-prefix-len", d.prefix_len)->capture_default_str();
  c->add_option("--prefix-repetition-suffix-len", d.suffix_len)->capture_default_str();
  c->add_option("--prefix-repetition-num-prefixes", d.num_prefixes)->capture_default_str();
  c->add_option("--prefix-repetition-output-len", d.prefix_output_len)->capture_default_str();
}

// Sampling fields sent with every request, as vllm bench serve's flags of the same names.
void add_sampling(CLI::App* c, bench::RequestOptions& r) {
  c->add_option("--temperature", r.temperature)->capture_default_str();
  c->add_option("--top-p", r.top_p, "top_p of every request (default: not sent, the server's default applies)")
      ->check(CLI::Range(0.0, 1.0));
  c->add_option("--top-k", r.top_k, "top_k of every request (default: not sent)");
  c->add_option("--min-p", r.min_p, "min_p of every request (default: not sent)")->check(CLI::Range(0.0, 1.0));
}

double parse_rate(const std::string& s) {
  if (s == "inf" || s.empty()) return INFINITY;
  return std::stod(s);
}

void add_serve(CLI::App& bench, int& exit_code) {
  auto* c = bench.add_subcommand("serve", "Serving benchmark against an OpenAI-compatible server (vllm bench serve)");
  auto common = std::make_shared<CommonArgs>();
  auto cfg = std::make_shared<bench::ServeBenchConfig>();
  auto rate = std::make_shared<std::string>("inf");
  auto conc = std::make_shared<std::string>();
  auto pm = std::make_shared<std::string>("ttft,tpot,itl,e2el");
  auto mp = std::make_shared<std::string>("99");
  add_common(c, *common, "/v1/completions");
  add_dataset(c, cfg->dataset, cfg->tokenizer_dir);
  c->add_option("--backend", cfg->label, "Accepted for vLLM compatibility (vllm, openai, openai-chat); recorded as label");
  c->add_option("--label", cfg->label, "Label recorded in the result file");
  c->add_option("--request-rate", *rate, "Requests per second (inf: all at once)")->capture_default_str();
  c->add_option("--burstiness", cfg->burstiness, "Gamma shape of arrival gaps (1 = Poisson)")->capture_default_str();
  c->add_option("--max-concurrency", *conc, "Most requests in flight; a comma list runs a sweep (1,4,16,64)");
  c->add_flag("--ignore-eos", cfg->request.ignore_eos, "Send ignore_eos so every request makes its full output length");
  add_sampling(c, cfg->request);
  c->add_option("--warmup,--num-warmups", cfg->warmup, "Warm-up requests before measuring (not counted)")->capture_default_str();
  c->add_option("--goodput", cfg->goodput, "SLOs for goodput, e.g. ttft:500 tpot:50 e2el:2000 (ms)")->expected(1, 3);
  c->add_option("--percentile-metrics", *pm, "Metrics to show percentiles of")->capture_default_str();
  c->add_option("--metric-percentiles", *mp, "Percentiles to report, e.g. 50,90,99")->capture_default_str();
  c->add_flag("--save-result", cfg->save_result, "Write the result JSON");
  c->add_option("--result-dir", cfg->result_dir, "Directory for the result JSON");
  c->add_option("--result-filename", cfg->result_filename, "File name for the result JSON");
  c->add_option("--plot", cfg->plot_dir, "Write SVG charts into DIR");
  c->add_flag("--disable-tqdm{false},--progress", cfg->progress, "Progress line on stderr");
  c->callback([=, &exit_code] {
    try {
      cfg->request_rate = parse_rate(*rate);
      cfg->max_concurrency.clear();
      for (const auto& v : split_list(*conc)) cfg->max_concurrency.push_back(std::stoll(v));
      cfg->metric_percentiles.clear();
      for (const auto& v : split_list(*mp)) cfg->metric_percentiles.push_back(std::stod(v));
    } catch (const std::exception&) {
      std::fprintf(stderr, "dsserve bench serve: --request-rate, --max-concurrency and --metric-percentiles take numbers\n");
      exit_code = 2;
      return;
    }
    cfg->percentile_metrics = split_list(*pm);
    cfg->endpoint = endpoint_of(*common);
    cfg->request.model = common->model;
    if (!cfg->result_filename.empty() || !cfg->result_dir.empty()) cfg->save_result = true;
    auto r = bench::run_serve_bench(*cfg);
    if (!r.ok()) {
      std::fprintf(stderr, "dsserve bench serve: %s\n", r.status().message().c_str());
      exit_code = 2;
      return;
    }
    exit_code = 0;
  });
}

void add_users(CLI::App& bench, int& exit_code) {
  auto* c = bench.add_subcommand("users", "Closed-loop load test: N users send, wait, think, repeat (Locust-style)");
  auto common = std::make_shared<CommonArgs>();
  auto cfg = std::make_shared<bench::UsersBenchConfig>();
  auto duration = std::make_shared<std::string>("60s");
  auto think = std::make_shared<std::string>("0.5-2s");
  add_common(c, *common, "/v1/chat/completions");
  cfg->dataset.random_input_len = 128;
  cfg->dataset.random_output_len = 128;
  cfg->dataset.num_prompts = 200;
  add_dataset(c, cfg->dataset, cfg->tokenizer_dir);
  c->add_option("--users", cfg->users, "Simulated users")->capture_default_str();
  c->add_option("--duration,--run-time", *duration, "How long to run: 600, 90s, 10m, 1h")->capture_default_str();
  c->add_option("--spawn-rate", cfg->spawn_rate, "Users started per second during ramp-up")->capture_default_str();
  c->add_option("--think-time", *think, "Pause after each answer: 1s, 500ms or a range 0.5-2s")->capture_default_str();
  c->add_flag("--ignore-eos", cfg->request.ignore_eos, "Send ignore_eos");
  add_sampling(c, cfg->request);
  c->add_option("--result-file", cfg->result_file, "Write the result JSON here");
  c->add_option("--plot", cfg->plot_dir, "Write SVG charts into DIR");
  c->add_option("--progress-interval", cfg->progress_interval, "Seconds between progress lines")->capture_default_str();
  c->callback([=, &exit_code] {
    auto d = bench::parse_duration(*duration);
    auto t = bench::parse_think_time(*think);
    if (!d.ok() || !t.ok()) {
      std::fprintf(stderr, "dsserve bench users: %s\n", (!d.ok() ? d.status() : t.status()).message().c_str());
      exit_code = 2;
      return;
    }
    cfg->duration_s = *d;
    cfg->think_min_s = t->first;
    cfg->think_max_s = t->second;
    cfg->endpoint = endpoint_of(*common);
    cfg->request.model = common->model;
    auto r = bench::run_users_bench(*cfg);
    if (!r.ok()) {
      std::fprintf(stderr, "dsserve bench users: %s\n", r.status().message().c_str());
      exit_code = 2;
      return;
    }
    exit_code = 0;
  });
}
}  // namespace

void add_bench_engine_commands(CLI::App& bench, int& exit_code);  // bench_engine_command.cpp

void add_bench_command(CLI::App& app, int& exit_code) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: serve (vllm bench serve), users (Locust-style load test), throughput, latency (engine in process)");
  bench->require_subcommand(1);
  add_serve(*bench, exit_code);
  add_users(*bench, exit_code);
  add_bench_engine_commands(*bench, exit_code);
}
}  // namespace ds::app
