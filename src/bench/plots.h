#pragma once
// `--plot DIR`: SVG charts of a benchmark run (histograms and CDFs of TTFT and TPOT, throughput and
// latency over time) and of a --max-concurrency sweep (throughput against latency).
#include <string>
#include <vector>

#include "bench/request_func.h"
#include "bench/serve_metrics.h"
#include "common/status.h"

namespace ds::bench {

struct SweepPoint {
  int64_t concurrency;
  double output_throughput, request_throughput;
  double median_ttft_ms, median_tpot_ms, median_e2el_ms, p99_e2el_ms;
};

// Writes ttft_hist, tpot_hist, ttft_cdf, tpot_cdf, throughput_over_time, latency_over_time
// (each NAME + suffix + ".svg") into dir.
Status write_run_plots(const std::vector<RequestOutput>& outs, const ServeMetrics& m, const std::string& dir,
                       const std::string& suffix);
// Writes sweep_throughput_latency.svg and sweep_throughput.svg into dir.
Status write_sweep_plot(const std::vector<SweepPoint>& pts, const std::string& dir);
}  // namespace ds::bench
