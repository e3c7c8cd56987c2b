#pragma once
// vLLM's BenchmarkMetrics: aggregates per-request outputs into the numbers `vllm bench serve`
// prints and saves, under the same names.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/request_func.h"

namespace ds::bench {

struct Distribution {  // one latency metric, milliseconds
  double mean = 0, median = 0, std = 0;
  std::vector<std::pair<double, double>> percentiles;  // (p, value)
};

struct ServeMetrics {
  int64_t completed = 0, failed = 0;
  int64_t total_input = 0, total_output = 0;
  double duration = 0;
  double request_throughput = 0, request_goodput = 0, output_throughput = 0, total_token_throughput = 0;
  double max_output_tokens_per_s = 0;
  int64_t max_concurrent_requests = 0;
  Distribution ttft, tpot, itl, e2el;
  std::map<std::string, int64_t> errors_by_kind;
  bool has_goodput = false;
};

// Service-level objectives for goodput, in ms ("ttft", "tpot", "e2el").
using Slo = std::map<std::string, double>;

ServeMetrics calculate_metrics(const std::vector<RequestOutput>& outs, double duration,
                               const std::vector<double>& percentiles, const Slo& slo);

// vLLM's terminal table. `metrics_shown`: subset of ttft,tpot,itl,e2el.
std::string format_table(const ServeMetrics& m, const std::vector<std::string>& metrics_shown,
                         int64_t max_concurrency, double request_rate);

// The result file: vLLM's field names plus per-request records ("requests").
nlohmann::json metrics_json(const ServeMetrics& m, const std::vector<RequestOutput>& outs);

// Peak number of requests in flight, from their start and end times.
int64_t peak_concurrency(const std::vector<RequestOutput>& outs);
}  // namespace ds::bench
