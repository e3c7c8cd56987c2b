#include "bench/users_bench.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "bench/plots.h"
#include "bench/prom_scrape.h"
#include "bench/serve_metrics.h"
#include "bench/stats.h"
#include "tokenizer/tokenizer.h"

namespace ds::bench {
namespace {
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Counters read from /metrics before and after the run; NaN when the server has none.
struct ServerSnapshot {
  double rss = NAN, requests = NAN, prompt_tokens = NAN, generation_tokens = NAN;
};

ServerSnapshot scrape(const Endpoint& ep) {
  ServerSnapshot s;
  const std::string text = http_get(ep.base_url, "/metrics", ep.api_key, 5);
  if (text.empty()) return s;
  auto get = [&](const char* n) { return prom_value(text, n).value_or(NAN); };
  s.rss = get("process_resident_memory_bytes");
  s.requests = get("vllm:request_success_total");
  s.prompt_tokens = get("vllm:prompt_tokens_total");
  s.generation_tokens = get("vllm:generation_tokens_total");
  return s;
}

Result<double> parse_seconds(std::string s, double unit_default) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  double unit = unit_default;
  if (s.ends_with("ms")) unit = 1e-3, s.resize(s.size() - 2);
  else if (s.ends_with("s")) unit = 1, s.pop_back();
  else if (s.ends_with("m")) unit = 60, s.pop_back();
  else if (s.ends_with("h")) unit = 3600, s.pop_back();
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || v < 0) throw std::invalid_argument(s);
    return v * unit;
  } catch (const std::exception&) {
    return invalid_argument("'" + s + "' is not a duration (600, 90s, 10m, 1h, 500ms)");
  }
}

std::string ms(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", s * 1000);
  return b;
}
}  // namespace

Result<double> parse_duration(const std::string& s) {
  // "1h30m" style: sum of parts.
  double total = 0;
  std::string part;
  for (size_t i = 0; i < s.size(); ++i) {
    part += s[i];
    const bool unit_end = (s[i] == 'h' || s[i] == 's' || (s[i] == 'm' && (i + 1 >= s.size() || s[i + 1] != 's')));
    if (unit_end || i + 1 == s.size()) {
      DS_ASSIGN_OR_RETURN(double v, parse_seconds(part, 1));
      total += v;
      part.clear();
    }
  }
  if (total <= 0) return invalid_argument("--duration must be positive");
  return total;
}

Result<std::pair<double, double>> parse_think_time(const std::string& s) {
  const auto dash = s.find('-');
  if (dash == std::string::npos) {
    DS_ASSIGN_OR_RETURN(double v, parse_seconds(s, 1));
    return std::make_pair(v, v);
  }
  std::string a = s.substr(0, dash), b = s.substr(dash + 1);
  // The unit written after the range applies to both ends ("0.5-2s").
  std::string unit;
  for (const char* u : {"ms", "s", "m"})
    if (b.ends_with(u)) {
      unit = u;
      break;
    }
  if (!unit.empty() && !(a.ends_with("s") || a.ends_with("m"))) a += unit;
  DS_ASSIGN_OR_RETURN(double lo, parse_seconds(a, 1));
  DS_ASSIGN_OR_RETURN(double hi, parse_seconds(b, 1));
  if (hi < lo) return invalid_argument("--think-time: the range must go from low to high");
  return std::make_pair(lo, hi);
}

Result<UsersBenchResult> run_users_bench(const UsersBenchConfig& c) {
  if (c.users <= 0) return invalid_argument("--users must be positive");
  if (!(c.spawn_rate > 0)) return invalid_argument("--spawn-rate must be positive");
  std::unique_ptr<Tokenizer> tok;
  if (!c.tokenizer_dir.empty()) {
    auto t = Tokenizer::load(c.tokenizer_dir);
    if (!t.ok()) return t.status();
    tok = std::move(t.value());
  }
  DS_ASSIGN_OR_RETURN(std::vector<RequestInput> prompts, make_dataset(c.dataset, tok.get()));
  const ServerSnapshot before = scrape(c.endpoint);
  const bool tty = isatty(STDERR_FILENO);
  const double interval = c.progress_interval > 0 ? c.progress_interval : tty ? 1.0 : 10.0;

  UsersBenchResult res;
  std::mutex mu;
  std::condition_variable stop_cv;
  bool stop = false;
  int64_t active = 0;
  std::atomic<double> peak_rss{std::isnan(before.rss) ? 0.0 : before.rss};
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.duration_s));

  auto user = [&](int64_t id) {
    std::mt19937_64 rng(c.dataset.seed * 1000003 + uint64_t(id));
    std::uniform_int_distribution<size_t> pick(0, prompts.size() - 1);
    std::uniform_real_distribution<double> think(c.think_min_s, c.think_max_s);
    while (Clock::now() < deadline) {
      RequestOutput o = send_request(c.endpoint, c.request, prompts[pick(rng)], t0);
      std::unique_lock lk(mu);
      res.outputs.push_back(std::move(o));
      const auto wake = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(think(rng)));
      stop_cv.wait_until(lk, std::min(wake, deadline), [&] { return stop; });
      if (stop) break;
    }
    std::lock_guard lk(mu);
    --active;
  };

  std::thread progress([&] {
    size_t seen = 0;
    double last_t = 0, last_rss_t = -10;
    std::unique_lock lk(mu);
    while (!stop) {
      stop_cv.wait_for(lk, std::chrono::duration<double>(interval), [&] { return stop; });
      if (stop) break;
      const double now = since(t0);
      std::vector<double> lat;
      int64_t errors = 0;
      for (const auto& o : res.outputs) {
        if (o.success) lat.push_back(o.latency);
        else ++errors;
      }
      const double rps = double(res.outputs.size() - seen) / std::max(now - last_t, 1e-9);
      seen = res.outputs.size();
      last_t = now;
      const int64_t users_now = active;
      lk.unlock();
      if (now - last_rss_t >= 5) {
        const double rss = scrape(c.endpoint).rss;
        if (!std::isnan(rss) && rss > peak_rss.load()) peak_rss = rss;
        last_rss_t = now;
      }
      if (!c.quiet)
        std::fprintf(stderr, "%s[%5.0fs] users %lld/%lld | RPS %.1f | P50 %s ms | P95 %s ms | done %zu | errors %lld%s",
                     tty ? "\r" : "", now, (long long)users_now, (long long)c.users, rps, ms(percentile(lat, 50)).c_str(),
                     ms(percentile(lat, 95)).c_str(), lat.size() + size_t(errors), (long long)errors, tty ? "   " : "\n");
      lk.lock();
    }
  });

  std::vector<std::thread> threads;
  for (int64_t i = 0; i < c.users; ++i) {
    const auto at = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(i) / c.spawn_rate));
    if (at >= deadline) break;
    std::this_thread::sleep_until(at);
    {
      std::lock_guard lk(mu);
      ++active;
      res.peak_users = std::max(res.peak_users, active);
    }
    threads.emplace_back(user, i);
  }
  std::this_thread::sleep_until(deadline);
  {
    std::lock_guard lk(mu);
    stop = true;  // users finish the request in flight, then leave
  }
  stop_cv.notify_all();
  for (auto& t : threads) t.join();
  progress.join();
  if (!c.quiet && tty) std::fprintf(stderr, "\n");
  res.duration = since(t0);
  const ServerSnapshot after = scrape(c.endpoint);
  if (!std::isnan(after.rss) && after.rss > peak_rss.load()) peak_rss = after.rss;

  // Summary.
  std::vector<double> lat, ttft, tpot;  // tpot: vllm bench's definition, (latency - ttft) / (tokens - 1)
  int64_t ok = 0, out_tokens = 0, in_tokens = 0;
  std::map<std::string, int64_t> errors;
  for (const auto& o : res.outputs) {
    if (!o.success) {
      ++errors[error_kind_name(o.error_kind)];
      continue;
    }
    ++ok;
    lat.push_back(o.latency * 1000);
    ttft.push_back(o.ttft * 1000);
    if (o.output_tokens > 1) tpot.push_back((o.latency - o.ttft) * 1000 / double(o.output_tokens - 1));
    out_tokens += o.output_tokens;
    in_tokens += o.prompt_len;
  }
  nlohmann::json& j = res.summary;
  j["users"] = c.users;
  j["peak_users"] = res.peak_users;
  j["spawn_rate"] = c.spawn_rate;
  j["think_time_s"] = {c.think_min_s, c.think_max_s};
  j["duration"] = res.duration;
  j["completed"] = ok;
  j["failed"] = int64_t(res.outputs.size()) - ok;
  j["errors_by_kind"] = errors;
  j["qps"] = double(ok) / res.duration;
  j["total_input_tokens"] = in_tokens;
  j["total_output_tokens"] = out_tokens;
  j["output_throughput"] = double(out_tokens) / res.duration;
  for (auto [name, v] : {std::pair{"latency", &lat}, std::pair{"ttft", &ttft}, std::pair{"tpot", &tpot}}) {
    const std::string n = name;
    j["mean_" + n + "_ms"] = mean(*v);
    j["median_" + n + "_ms"] = median(*v);
    j["p95_" + n + "_ms"] = percentile(*v, 95);
    j["p99_" + n + "_ms"] = percentile(*v, 99);
  }
  auto num_or_null = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  j["server_rss_bytes_before"] = num_or_null(before.rss);
  j["server_rss_bytes_after"] = num_or_null(after.rss);
  j["server_rss_bytes_peak"] = peak_rss.load() > 0 ? nlohmann::json(peak_rss.load()) : nlohmann::json(nullptr);
  j["server_requests_delta"] = num_or_null(after.requests - before.requests);
  j["server_prompt_tokens_delta"] = num_or_null(after.prompt_tokens - before.prompt_tokens);
  j["server_generation_tokens_delta"] = num_or_null(after.generation_tokens - before.generation_tokens);

  if (!c.quiet) {
    auto row = [](const char* k, const std::string& v) { std::printf("%-40s %s\n", k, v.c_str()); };
    auto f2 = [](double v) {
      char b[64];
      std::snprintf(b, sizeof b, "%.2f", v);
      return std::string(b);
    };
    auto mib = [&](double v) { return std::isnan(v) ? std::string("n/a") : f2(v / 1048576.0) + " MiB"; };
    auto sec = [](const char* t) {
      const std::string s = t;
      const size_t pad = 50 - std::min<size_t>(50, s.size());
      std::printf("%s%s%s\n", std::string(pad / 2, '-').c_str(), s.c_str(), std::string(pad - pad / 2, '-').c_str());
    };
    std::printf("%s\n", "================ Load Test Result ================");
    row("Users (peak):", std::to_string(res.peak_users));
    row("Duration (s):", f2(res.duration));
    row("Successful requests:", std::to_string(ok));
    row("Failed requests:", std::to_string(res.outputs.size() - size_t(ok)));
    row("QPS (successful req/s):", f2(double(ok) / res.duration));
    row("Output token throughput (tok/s):", f2(double(out_tokens) / res.duration));
    sec("End-to-end Latency");
    row("Average latency (ms):", f2(mean(lat)));
    row("P50 latency (ms):", f2(median(lat)));
    row("P95 latency (ms):", f2(percentile(lat, 95)));
    row("P99 latency (ms):", f2(percentile(lat, 99)));
    sec("Time to First Token");
    row("Average TTFT (ms):", f2(mean(ttft)));
    row("P50 TTFT (ms):", f2(median(ttft)));
    row("P95 TTFT (ms):", f2(percentile(ttft, 95)));
    row("P99 TTFT (ms):", f2(percentile(ttft, 99)));
    sec("Time per Output Token (excl. 1st token)");
    row("P50 TPOT (ms):", f2(median(tpot)));
    row("P99 TPOT (ms):", f2(percentile(tpot, 99)));
    sec("Errors by kind");
    if (errors.empty()) row("(none)", "0");
    for (auto& [k, n] : errors) row((k + ":").c_str(), std::to_string(n));
    sec("Server (/metrics)");
    row("Resident memory before:", mib(before.rss));
    row("Resident memory peak (sampled):", mib(peak_rss.load() > 0 ? peak_rss.load() : NAN));
    row("Resident memory after:", mib(after.rss));
    auto delta = [&](double a, double b) { return std::isnan(a - b) ? std::string("n/a") : f2(a - b).substr(0, f2(a - b).size() - 3); };
    row("Requests finished (server delta):", delta(after.requests, before.requests));
    row("Prompt tokens (server delta):", delta(after.prompt_tokens, before.prompt_tokens));
    row("Generation tokens (server delta):", delta(after.generation_tokens, before.generation_tokens));
    std::printf("%s\n", std::string(50, '=').c_str());
    std::fflush(stdout);
  }
  if (!c.result_file.empty()) {
    nlohmann::json full = j;
    full["requests"] = metrics_json(calculate_metrics(res.outputs, res.duration, {50, 95, 99}, {}), res.outputs)["requests"];
    std::ofstream f(c.result_file);
    if (!f) return io_error("cannot write " + c.result_file);
    f << full.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (!c.plot_dir.empty()) {
    auto m = calculate_metrics(res.outputs, res.duration, {99}, {});
    DS_RETURN_IF_ERROR(write_run_plots(res.outputs, m, c.plot_dir, "_users"));
  }
  return res;
}
}  // namespace ds::bench
