#pragma once
// Runs a request list against a server the way `vllm bench serve` does: arrivals at --request-rate
// (inf: all at once; else gamma-distributed gaps with shape --burstiness, 1 = Poisson), at most
// --max-concurrency in flight. One thread per in-flight request (the client is blocking HTTP/1.1).
#include <vector>

#include "bench/request_func.h"

namespace ds::bench {

struct RunOptions {
  double request_rate = 0;     // <= 0 or inf: send everything at once
  double burstiness = 1.0;
  int64_t max_concurrency = 0; // 0: unlimited
  uint64_t seed = 0;
  bool progress = false;       // one-line progress on stderr
};

struct RunResult {
  std::vector<RequestOutput> outputs;  // in input order
  double duration = 0;                 // seconds, first send to last completion
};

// Arrival offsets (seconds from the start) for n requests.
std::vector<double> arrival_times(int64_t n, double request_rate, double burstiness, uint64_t seed);

RunResult run_requests(const Endpoint& ep, const RequestOptions& ro, const std::vector<RequestInput>& inputs,
                       const RunOptions& o);
}  // namespace ds::bench
