#pragma once
// `dsserve bench serve`: the whole serving benchmark (dataset, warm-up, one run per
// --max-concurrency value, table, result files, charts). The CLI in src/app/bench_command.cpp fills
// ServeBenchConfig; tests call run_serve_bench directly.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/datasets.h"
#include "bench/request_func.h"
#include "bench/serve_metrics.h"

namespace ds::bench {

struct ServeBenchConfig {
  Endpoint endpoint;
  RequestOptions request;
  DatasetOptions dataset;
  std::string tokenizer_dir;              // optional: --tokenizer
  double request_rate = 0;                // 0 or inf: all at once
  double burstiness = 1.0;
  std::vector<int64_t> max_concurrency;   // empty: unlimited; several: a sweep
  int64_t warmup = 0;
  std::vector<std::string> goodput;       // "ttft:MS" "tpot:MS" "e2el:MS"
  std::vector<std::string> percentile_metrics{"ttft", "tpot", "itl", "e2el"};
  std::vector<double> metric_percentiles{99};
  bool save_result = false;
  std::string result_dir, result_filename, label;
  std::string plot_dir;
  bool progress = false;
  bool quiet = false;                     // no table on stdout (tests)
};

struct ServeBenchRun {
  int64_t max_concurrency = 0;
  ServeMetrics metrics;
  std::vector<RequestOutput> outputs;
  nlohmann::json result;                  // what --save-result writes
};

// Returns one run per max_concurrency value, or an error for bad configuration (bad flags, missing
// dataset file). Request failures are counted in the runs, never returned as errors.
Result<std::vector<ServeBenchRun>> run_serve_bench(const ServeBenchConfig& c);

// "ttft:500" -> {"ttft", 500}; error on anything else.
Result<Slo> parse_goodput(const std::vector<std::string>& items);
}  // namespace ds::bench
