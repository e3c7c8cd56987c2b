#include "bench/serve_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/stats.h"

namespace ds::bench {
namespace {
Distribution distribution(const std::vector<double>& seconds, const std::vector<double>& ps) {
  std::vector<double> ms;
  ms.reserve(seconds.size());
  for (double s : seconds) ms.push_back(s * 1000.0);
  Distribution d;
  d.mean = mean(ms);
  d.median = median(ms);
  d.std = stddev(ms);
  for (double p : ps) d.percentiles.emplace_back(p, percentile(ms, p));
  return d;
}

// Output tokens per whole second of the run, attributing each token to the time its chunk arrived
// (vLLM's "peak output token throughput").
double peak_tokens_per_s(const std::vector<RequestOutput>& outs, double duration) {
  const size_t n = size_t(std::ceil(std::max(duration, 0.0))) + 1;
  std::vector<double> bins(n, 0);
  for (const auto& o : outs) {
    if (!o.success || o.chunks == 0) continue;
    const double per_chunk = double(o.output_tokens) / double(o.chunks);
    double t = o.start_time + o.ttft;
    auto add = [&](double at) { bins[std::min(n - 1, size_t(std::max(at, 0.0)))] += per_chunk; };
    add(t);
    for (double d : o.itl) add(t += d);
  }
  return bins.empty() ? 0 : *std::max_element(bins.begin(), bins.end());
}

std::string pct_label(double p) {
  char b[32];
  if (p == std::floor(p))
    std::snprintf(b, sizeof b, "%d", int(p));
  else
    std::snprintf(b, sizeof b, "%g", p);
  return b;
}
}  // namespace

int64_t peak_concurrency(const std::vector<RequestOutput>& outs) {
  std::vector<std::pair<double, int>> ev;
  for (const auto& o : outs) {
    ev.emplace_back(o.start_time, +1);
    ev.emplace_back(o.start_time + o.latency, -1);
  }
  std::sort(ev.begin(), ev.end());  // at equal times the end (-1) comes first
  int64_t cur = 0, peak = 0;
  for (auto& [t, d] : ev) peak = std::max(peak, cur += d);
  return peak;
}

ServeMetrics calculate_metrics(const std::vector<RequestOutput>& outs, double duration,
                               const std::vector<double>& percentiles, const Slo& slo) {
  ServeMetrics m;
  m.duration = duration;
  std::vector<double> ttfts, tpots, itls, e2els;
  int64_t good = 0;
  for (const auto& o : outs) {
    if (!o.success) {
      ++m.failed;
      ++m.errors_by_kind[error_kind_name(o.error_kind)];
      continue;
    }
    ++m.completed;
    m.total_input += o.prompt_len;
    m.total_output += o.output_tokens;
    double tpot = 0;
    if (o.output_tokens > 1) {
      tpot = (o.latency - o.ttft) / double(o.output_tokens - 1);
      tpots.push_back(tpot);
    }
    itls.insert(itls.end(), o.itl.begin(), o.itl.end());
    ttfts.push_back(o.ttft);
    e2els.push_back(o.latency);
    bool ok = true;
    for (auto& [k, ms] : slo) {
      const double v = k == "ttft" ? o.ttft : k == "tpot" ? tpot : o.latency;
      ok = ok && v * 1000.0 <= ms;
    }
    good += ok;
  }
  m.has_goodput = !slo.empty();
  const double d = duration > 0 ? duration : 1e-9;
  m.request_throughput = double(m.completed) / d;
  m.request_goodput = m.has_goodput ? double(good) / d : 0;
  m.output_throughput = double(m.total_output) / d;
  m.total_token_throughput = double(m.total_input + m.total_output) / d;
  m.ttft = distribution(ttfts, percentiles);
  m.tpot = distribution(tpots, percentiles);
  m.itl = distribution(itls, percentiles);
  m.e2el = distribution(e2els, percentiles);
  m.max_output_tokens_per_s = peak_tokens_per_s(outs, duration);
  m.max_concurrent_requests = peak_concurrency(outs);
  return m;
}

std::string format_table(const ServeMetrics& m, const std::vector<std::string>& shown, int64_t max_concurrency,
                         double request_rate) {
  std::string s;
  char b[256];
  auto centered = [&](const std::string& t, char c) {
    const size_t n = 50, pad = n > t.size() ? n - t.size() : 0;
    s += std::string(pad / 2, c) + t + std::string(pad - pad / 2, c) + "\n";
  };
  auto row_i = [&](const char* k, int64_t v) {
    std::snprintf(b, sizeof b, "%-40s %-10lld\n", k, (long long)v);
    s += b;
  };
  auto row_f = [&](const std::string& k, double v) {
    std::snprintf(b, sizeof b, "%-40s %-10.2f\n", k.c_str(), v);
    s += b;
  };
  centered(" Serving Benchmark Result ", '=');
  row_i("Successful requests:", m.completed);
  row_i("Failed requests:", m.failed);
  if (max_concurrency > 0) row_i("Maximum request concurrency:", max_concurrency);
  if (request_rate > 0 && std::isfinite(request_rate)) row_f("Request rate configured (RPS):", request_rate);
  row_f("Benchmark duration (s):", m.duration);
  row_i("Total input tokens:", m.total_input);
  row_i("Total generated tokens:", m.total_output);
  row_f("Request throughput (req/s):", m.request_throughput);
  if (m.has_goodput) row_f("Request goodput (req/s):", m.request_goodput);
  row_f("Output token throughput (tok/s):", m.output_throughput);
  row_f("Peak output token throughput (tok/s):", m.max_output_tokens_per_s);
  row_f("Peak concurrent requests:", double(m.max_concurrent_requests));
  row_f("Total Token throughput (tok/s):", m.total_token_throughput);
  struct Sec {
    const char* key;
    const char* title;
    const char* abbr;
    const Distribution* d;
  };
  const Sec secs[] = {{"ttft", "Time to First Token", "TTFT", &m.ttft},
                      {"tpot", "Time per Output Token (excl. 1st token)", "TPOT", &m.tpot},
                      {"itl", "Inter-token Latency", "ITL", &m.itl},
                      {"e2el", "End-to-end Latency", "E2EL", &m.e2el}};
  for (const auto& sec : secs) {
    if (std::find(shown.begin(), shown.end(), sec.key) == shown.end()) continue;
    centered(sec.title, '-');
    row_f(std::string("Mean ") + sec.abbr + " (ms):", sec.d->mean);
    row_f(std::string("Median ") + sec.abbr + " (ms):", sec.d->median);
    for (auto& [p, v] : sec.d->percentiles) row_f("P" + pct_label(p) + " " + sec.abbr + " (ms):", v);
  }
  if (!m.errors_by_kind.empty()) {
    centered("Errors", '-');
    for (auto& [k, n] : m.errors_by_kind) row_i((k + ":").c_str(), n);
  }
  s += std::string(50, '=') + "\n";
  return s;
}

nlohmann::json metrics_json(const ServeMetrics& m, const std::vector<RequestOutput>& outs) {
  nlohmann::json j;
  j["duration"] = m.duration;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["total_input_tokens"] = m.total_input;
  j["total_output_tokens"] = m.total_output;
  j["request_throughput"] = m.request_throughput;
  j["request_goodput"] = m.has_goodput ? nlohmann::json(m.request_goodput) : nlohmann::json(nullptr);
  j["output_throughput"] = m.output_throughput;
  j["total_token_throughput"] = m.total_token_throughput;
  j["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  j["errors_by_kind"] = m.errors_by_kind;
  auto put = [&](const char* name, const Distribution& d) {
    const std::string n = name;
    j["mean_" + n + "_ms"] = d.mean;
    j["median_" + n + "_ms"] = d.median;
    j["std_" + n + "_ms"] = d.std;
    for (auto& [p, v] : d.percentiles) j["p" + pct_label(p) + "_" + n + "_ms"] = v;
  };
  put("ttft", m.ttft);
  put("tpot", m.tpot);
  put("itl", m.itl);
  put("e2el", m.e2el);
  // vLLM's per-request arrays, then our records (start time, status and error kind included).
  auto& input_lens = j["input_lens"] = nlohmann::json::array();
  auto& output_lens = j["output_lens"] = nlohmann::json::array();
  auto& ttfts = j["ttfts"] = nlohmann::json::array();
  auto& itls = j["itls"] = nlohmann::json::array();
  auto& texts = j["generated_texts"] = nlohmann::json::array();
  auto& errors = j["errors"] = nlohmann::json::array();
  auto& recs = j["requests"] = nlohmann::json::array();
  for (const auto& o : outs) {
    input_lens.push_back(o.prompt_len);
    output_lens.push_back(o.output_tokens);
    ttfts.push_back(o.ttft);
    itls.push_back(o.itl);
    texts.push_back(o.generated_text);
    errors.push_back(o.error);
    recs.push_back({{"success", o.success},
                    {"error_kind", o.success ? "" : error_kind_name(o.error_kind)},
                    {"http_status", o.http_status},
                    {"start_time", o.start_time},
                    {"ttft", o.ttft},
                    {"latency", o.latency},
                    {"prompt_len", o.prompt_len},
                    {"output_tokens", o.output_tokens},
                    {"chunks", o.chunks}});
  }
  return j;
}
}  // namespace ds::bench
