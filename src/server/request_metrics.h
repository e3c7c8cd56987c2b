#pragma once
// ServerMetrics: GET /metrics with vLLM's metric names and labels, so existing Prometheus rules
// and Grafana dashboards built for `vllm serve` keep working against `dsserve serve`.
//
// Where each number comes from:
//  - Engine-wide gauges and counters (running/waiting/swapped, KV usage, token counters,
//    request_success_total{finished_reason}, preemptions, prefix cache) are copied from
//    ds::EngineStats atomics at scrape time (render()); never through the engine thread.
//  - Per-request histograms (TTFT, ITL, e2e latency, queue time, prompt/generation tokens) come
//    from on_request_finished(), called by the HTTP handler when a request ends.
//  - vllm:iteration_tokens_total and dsserve:batch_efficiency are derived from the deltas of
//    EngineStats::steps_total / batched_tokens_total between two renders (see render()).
//  - process_* from /proc/self at scrape time.
//
// Threads: on_request_finished() and render() may be called from any thread, concurrently.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"
#include "server/metrics_registry.h"

namespace ds {

using MetricsClock = std::chrono::steady_clock;

// What the HTTP handler knows about one finished request (all choices together).
struct RequestRecord {
  MetricsClock::time_point arrival;                    // request accepted by the handler
  std::optional<MetricsClock::time_point> scheduled;   // first scheduled by the engine, if known;
                                                       // without it no queue time is observed
  std::optional<MetricsClock::time_point> first_token; // first output token reached the handler
  MetricsClock::time_point finished;                   // last event (or error) reached the handler
  std::vector<double> inter_token_latencies_s;         // one per output event after the first
  int32_t prompt_tokens = 0;
  int32_t generation_tokens = 0;                       // all choices
  FinishReason finish_reason = FinishReason::kStop;
};

// Helper for the handler: feed it every StreamEvent as it arrives; it fills a RequestRecord.
// Inter-token latency is measured per choice (n > 1 choices interleave), one sample per event
// carrying tokens after that choice's first, as vLLM does per engine iteration.
// Not thread-safe: one instance per request, used by the thread reading that request's stream.
class RequestTimer {
 public:
  explicit RequestTimer(MetricsClock::time_point arrival = MetricsClock::now());
  void on_scheduled(MetricsClock::time_point t);  // optional, if the engine reports it
  void on_event(const StreamEvent& e, MetricsClock::time_point now = MetricsClock::now());
  // Completes the record (finish time, counts from usage when the last event carried it).
  RequestRecord finish(MetricsClock::time_point now = MetricsClock::now());
  // The handler may fill fields it knows better (e.g. prompt_tokens before any event).
  RequestRecord& record() { return rec_; }
  const RequestRecord& record() const { return rec_; }
  // Time to first token in milliseconds, if a token arrived (for the audit log).
  std::optional<double> ttft_ms() const;

 private:
  RequestRecord rec_;
  std::vector<std::optional<MetricsClock::time_point>> last_token_;  // per choice index
  int32_t generation_tokens_seen_ = 0;
  bool have_usage_ = false;
};

struct ServerMetricsConfig {
  std::string model_name;              // first --served-model-name (vLLM's model_name label)
  int32_t max_model_len = 0;           // bounds of the request token-count histograms
  int32_t max_num_batched_tokens = 0;  // denominator of dsserve:batch_efficiency
  bool process_metrics = true;         // process_* from /proc/self
  // vllm:cache_config_info's labels (block_size, cache_dtype, ...: the flags' values, as vLLM renders
  // its CacheConfig); empty: no such series.
  metrics::Labels cache_config;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(ServerMetricsConfig cfg);

  // Any thread. Observes the per-request histograms. Call once per request that reached the
  // engine (whatever its outcome); requests refused before submit() are not observed.
  void on_request_finished(const RequestRecord& r);

  // Any thread (GET /metrics). Refreshes the engine-derived series from `stats`, then renders
  // the whole registry. Serialised internally; the engine-step deltas are taken between two
  // consecutive calls, so batch efficiency is the average over the last scrape interval.
  std::string render(const EngineStats& stats);

  // For extra families (e.g. NVML GPU gauges); register them at start-up.
  metrics::Registry& registry() { return reg_; }

  // vLLM's bucket layouts (vllm/v1/metrics/loggers.py).
  static std::vector<double> ttft_buckets();
  static std::vector<double> inter_token_latency_buckets();
  static std::vector<double> request_latency_buckets();  // e2e and queue time
  static std::vector<double> iteration_tokens_buckets();
  static std::vector<double> buckets_1_2_5(int64_t max_value);  // 1, 2, 5, 10, ... <= max_value

 private:
  void sync_engine(const EngineStats& stats);

  ServerMetricsConfig cfg_;
  metrics::Labels labels_;
  metrics::Registry reg_;
  // Engine mirrors.
  metrics::Gauge *running_, *waiting_, *swapped_, *kv_usage_, *gpu_cache_usage_, *batch_eff_, *budget_;
  metrics::Counter *prompt_tokens_, *gen_tokens_, *preemptions_, *pc_queries_, *pc_hits_;
  metrics::Counter *success_stop_, *success_length_, *success_abort_, *steps_, *batched_tokens_;
  metrics::Histogram* iteration_tokens_;
  // Per request.
  metrics::Histogram *ttft_, *itl_, *tpot_, *e2e_, *queue_, *prefill_, *decode_, *inference_;
  metrics::Histogram *prompt_hist_, *gen_hist_;
  // process_*.
  metrics::Counter* cpu_seconds_ = nullptr;  // process_* only with cfg.process_metrics
  metrics::Gauge *rss_ = nullptr, *vms_ = nullptr, *start_time_ = nullptr, *open_fds_ = nullptr, *max_fds_ = nullptr;

  std::mutex sync_mu_;  // one render computes deltas at a time
  int64_t last_steps_ = 0, last_batched_ = 0;
};

}  // namespace ds
