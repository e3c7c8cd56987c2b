#include "server/request_metrics.h"

#include <algorithm>

#include "server/process_metrics.h"

namespace ds {

namespace {

double seconds(MetricsClock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// ---- RequestTimer -------------------------------------------------------------------------

RequestTimer::RequestTimer(MetricsClock::time_point arrival) { rec_.arrival = arrival; }

void RequestTimer::on_scheduled(MetricsClock::time_point t) {
  if (!rec_.scheduled) rec_.scheduled = t;
}

void RequestTimer::on_event(const StreamEvent& e, MetricsClock::time_point now) {
  if (!e.token_ids.empty()) {
    if (!rec_.first_token) rec_.first_token = now;
    const size_t idx = size_t(std::max(0, e.index));
    if (last_token_.size() <= idx) last_token_.resize(idx + 1);
    if (last_token_[idx]) rec_.inter_token_latencies_s.push_back(seconds(now - *last_token_[idx]));
    last_token_[idx] = now;
    generation_tokens_seen_ += int32_t(e.token_ids.size());
  }
  if (e.finish_reason && rec_.finish_reason != FinishReason::kAbort) rec_.finish_reason = *e.finish_reason;
  if (e.done) {
    rec_.prompt_tokens = e.usage.prompt_tokens;
    rec_.generation_tokens = e.usage.completion_tokens;
    have_usage_ = true;
  }
}

RequestRecord RequestTimer::finish(MetricsClock::time_point now) {
  rec_.finished = now;
  if (!have_usage_) rec_.generation_tokens = std::max(rec_.generation_tokens, generation_tokens_seen_);
  return rec_;
}

std::optional<double> RequestTimer::ttft_ms() const {
  if (!rec_.first_token) return std::nullopt;
  return seconds(*rec_.first_token - rec_.arrival) * 1e3;
}

// ---- buckets (vLLM's layouts) ---------------------------------------------------------------

std::vector<double> ServerMetrics::ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
          1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}

std::vector<double> ServerMetrics::inter_token_latency_buckets() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
          0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}

std::vector<double> ServerMetrics::request_latency_buckets() {
  return {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
          30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}

std::vector<double> ServerMetrics::iteration_tokens_buckets() {
  return {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
}

std::vector<double> ServerMetrics::buckets_1_2_5(int64_t max_value) {
  std::vector<double> out;
  for (int64_t scale = 1;; scale *= 10) {
    for (int64_t m : {1, 2, 5}) {
      if (m * scale > max_value) return out;
      out.push_back(double(m * scale));
    }
  }
}

// ---- ServerMetrics ---------------------------------------------------------------------------

ServerMetrics::ServerMetrics(ServerMetricsConfig cfg) : cfg_(std::move(cfg)) {
  labels_ = {{"model_name", cfg_.model_name}, {"engine", "0"}};
  using metrics::Labels;
  auto gauge = [&](const char* name, const char* help) { return &reg_.add_gauge(name, help).labels(labels_); };
  auto counter = [&](const char* name, const char* help) { return &reg_.add_counter(name, help).labels(labels_); };
  auto hist = [&](const char* name, const char* help, std::vector<double> b) {
    return &reg_.add_histogram(name, help, std::move(b)).labels(labels_);
  };

  if (cfg_.process_metrics) {
    metrics::Labels none;
    cpu_seconds_ = &reg_.add_counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
                        .labels(none);
    vms_ = &reg_.add_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").labels(none);
    rss_ = &reg_.add_gauge("process_resident_memory_bytes", "Resident memory size in bytes.").labels(none);
    start_time_ = &reg_.add_gauge("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.").labels(none);
    open_fds_ = &reg_.add_gauge("process_open_fds", "Number of open file descriptors.").labels(none);
    max_fds_ = &reg_.add_gauge("process_max_fds", "Maximum number of open file descriptors.").labels(none);
  }

  running_ = gauge("vllm:num_requests_running", "Number of requests in model execution batches.");
  waiting_ = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.");
  swapped_ = gauge("vllm:num_requests_swapped", "Number of requests swapped to CPU memory.");
  kv_usage_ = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
  gpu_cache_usage_ = gauge("vllm:gpu_cache_usage_perc",
                           "KV-cache usage. 1 means 100 percent usage. Deprecated: use vllm:kv_cache_usage_perc.");
  pc_queries_ = counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in number of queried tokens.");
  pc_hits_ = counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in number of cached tokens.");
  preemptions_ = counter("vllm:num_preemptions_total", "Cumulative number of preemptions by the engine.");
  prompt_tokens_ = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.");
  gen_tokens_ = counter("vllm:generation_tokens_total", "Number of generation tokens processed.");
  auto& success = reg_.add_counter("vllm:request_success_total", "Count of finished requests by finish reason.");
  auto with_reason = [&](const char* reason) {
    Labels l = labels_;
    l.emplace_back("finished_reason", reason);
    return &success.labels(l);
  };
  success_stop_ = with_reason("stop");
  success_length_ = with_reason("length");
  success_abort_ = with_reason("abort");

  const int64_t max_len = cfg_.max_model_len > 0 ? cfg_.max_model_len : int64_t(1) << 20;
  prompt_hist_ = hist("vllm:request_prompt_tokens", "Number of prefill tokens processed per request.",
                      buckets_1_2_5(max_len));
  gen_hist_ = hist("vllm:request_generation_tokens", "Number of generation tokens processed per request.",
                   buckets_1_2_5(max_len));
  iteration_tokens_ = hist("vllm:iteration_tokens_total", "Histogram of number of tokens per engine step.",
                           iteration_tokens_buckets());
  ttft_ = hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttft_buckets());
  itl_ = hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              inter_token_latency_buckets());
  tpot_ = hist("vllm:time_per_output_token_seconds",
               "Histogram of time per output token in seconds. Deprecated: use vllm:inter_token_latency_seconds.",
               inter_token_latency_buckets());
  e2e_ = hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
              request_latency_buckets());
  queue_ = hist("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                request_latency_buckets());
  inference_ = hist("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
                    request_latency_buckets());
  prefill_ = hist("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                  request_latency_buckets());
  decode_ = hist("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                 request_latency_buckets());

  batch_eff_ = gauge("dsserve:batch_efficiency",
                     "Scheduled tokens per engine step / max_num_batched_tokens, averaged since the previous scrape.");
  budget_ = gauge("dsserve:max_num_batched_tokens", "Token budget of one engine step (--max-num-batched-tokens).");
  budget_->set(double(cfg_.max_num_batched_tokens));
  if (!cfg_.cache_config.empty())
    reg_.add_gauge("vllm:cache_config_info", "The KV cache's configuration, in the labels (the value is 1).")
        .labels(cfg_.cache_config)
        .set(1);
  steps_ = counter("dsserve:engine_steps_total", "Engine steps that ran a batch.");
  batched_tokens_ = counter("dsserve:batched_tokens_total", "Tokens scheduled over all engine steps.");
}

void ServerMetrics::on_request_finished(const RequestRecord& r) {
  e2e_->observe(seconds(r.finished - r.arrival));
  if (r.first_token) {
    ttft_->observe(seconds(*r.first_token - r.arrival));
    decode_->observe(seconds(r.finished - *r.first_token));
  }
  for (double itl : r.inter_token_latencies_s) {
    itl_->observe(itl);
    tpot_->observe(itl);
  }
  if (r.scheduled) {
    queue_->observe(seconds(*r.scheduled - r.arrival));
    inference_->observe(seconds(r.finished - *r.scheduled));
    if (r.first_token) prefill_->observe(seconds(*r.first_token - *r.scheduled));
  }
  prompt_hist_->observe(double(r.prompt_tokens));
  gen_hist_->observe(double(r.generation_tokens));
}

void ServerMetrics::sync_engine(const EngineStats& s) {
  running_->set(double(s.num_running.load()));
  waiting_->set(double(s.num_waiting.load()));
  swapped_->set(double(s.num_swapped.load()));
  kv_usage_->set(s.kv_cache_usage.load());
  gpu_cache_usage_->set(s.kv_cache_usage.load());
  pc_queries_->set_total(double(s.prefix_cache_queries.load()));
  pc_hits_->set_total(double(s.prefix_cache_hits.load()));
  preemptions_->set_total(double(s.num_preemptions_total.load()));
  prompt_tokens_->set_total(double(s.prompt_tokens_total.load()));
  gen_tokens_->set_total(double(s.generation_tokens_total.load()));
  success_stop_->set_total(double(s.finished_stop.load()));
  success_length_->set_total(double(s.finished_length.load()));
  success_abort_->set_total(double(s.finished_abort.load()));

  // The engine publishes only running totals, so the per-step token histogram is filled with the
  // interval's mean: _count and _sum are exact, the bucket spread within one interval is not.
  // Read batched before steps: the engine bumps steps first, so d_tokens never runs ahead.
  const int64_t batched = s.batched_tokens_total.load();
  const int64_t steps = s.steps_total.load();
  const int64_t d_steps = steps - last_steps_;
  const int64_t d_tokens = batched - last_batched_;
  if (d_steps > 0 && d_tokens >= 0) {
    iteration_tokens_->observe_n(double(d_tokens) / double(d_steps), uint64_t(d_steps));
    last_steps_ = steps;
    last_batched_ = batched;
    batch_eff_->set(cfg_.max_num_batched_tokens > 0
                        ? double(d_tokens) / (double(d_steps) * double(cfg_.max_num_batched_tokens))
                        : 0.0);
  } else if (d_steps == 0) {
    batch_eff_->set(0.0);  // idle interval: no batches ran
  }
  steps_->set_total(double(last_steps_));
  batched_tokens_->set_total(double(last_batched_));
}

std::string ServerMetrics::render(const EngineStats& stats) {
  {
    std::lock_guard lock(sync_mu_);
    sync_engine(stats);
    if (cfg_.process_metrics) {
      if (auto p = read_process_stats()) {
        cpu_seconds_->set_total(p->cpu_seconds);
        rss_->set(p->resident_bytes);
        vms_->set(p->virtual_bytes);
        start_time_->set(p->start_time_seconds);
        open_fds_->set(p->open_fds);
        max_fds_->set(p->max_fds);
      }
    }
  }
  return reg_.render();
}

}  // namespace ds
