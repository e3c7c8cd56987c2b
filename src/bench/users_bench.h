#pragma once
// `dsserve bench users`: the deployment guide's Locust-style test. N users, started at
// --spawn-rate per second, each in a closed loop: send a streamed request, wait for the whole
// answer, think for a uniform random pause, repeat, until --duration is up (requests in flight then
// finish and count). A progress line every interval; at the end a table of latency, TTFT, QPS,
// errors by kind and the server's memory and counters from /metrics.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/datasets.h"
#include "bench/request_func.h"

namespace ds::bench {

struct UsersBenchConfig {
  Endpoint endpoint;
  RequestOptions request;
  DatasetOptions dataset;  // prompts the users pick from at random
  std::string tokenizer_dir;
  int64_t users = 100;
  double duration_s = 60;
  double spawn_rate = 10;
  double think_min_s = 0.5, think_max_s = 2.0;
  double progress_interval = 0;  // 0: 1 s on a terminal, 10 s otherwise
  std::string result_file, plot_dir;
  bool quiet = false;
};

struct UsersBenchResult {
  std::vector<RequestOutput> outputs;  // in completion order
  double duration = 0;
  int64_t peak_users = 0;
  nlohmann::json summary;              // what --result-file holds (without per-request records)
};

Result<UsersBenchResult> run_users_bench(const UsersBenchConfig& c);

// "600", "90s", "10m", "1h", "1h30m" -> seconds.
Result<double> parse_duration(const std::string& s);
// "1s", "500ms", "0.5-2s", "0.5-2" -> (min, max) seconds.
Result<std::pair<double, double>> parse_think_time(const std::string& s);
}  // namespace ds::bench
