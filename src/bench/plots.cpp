#include "bench/plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/svg_chart.h"

namespace ds::bench {
namespace {
Status write(const std::string& dir, const std::string& name, const Chart& c) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto p = std::filesystem::path(dir) / name;
  std::ofstream f(p);
  if (!f) return io_error("cannot write " + p.string());
  f << render_svg(c);
  return Status::ok();
}

Chart histogram(const std::vector<double>& ms, const std::string& what, const std::string& color) {
  Chart c;
  c.title = what + " histogram (" + std::to_string(ms.size()) + " samples)";
  c.x_label = what + " (ms)";
  c.y_label = "requests";
  Series s;
  s.style = Series::kBars;
  s.color = color;
  if (!ms.empty()) {
    const auto [lo_it, hi_it] = std::minmax_element(ms.begin(), ms.end());
    double lo = *lo_it, hi = *hi_it;
    if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
    const int bins = std::clamp(int(std::sqrt(double(ms.size()))) * 2, 10, 60);
    const double w = (hi - lo) / bins;
    std::vector<double> cnt(size_t(bins), 0);
    for (double v : ms) cnt[size_t(std::min(bins - 1, int((v - lo) / w)))] += 1;
    for (int i = 0; i < bins; ++i) {
      s.x.push_back(lo + (i + 0.5) * w);
      s.y.push_back(cnt[size_t(i)]);
    }
    s.bar_width = w;
  }
  c.series.push_back(s);
  return c;
}

Chart cdf(const std::vector<double>& ms, const std::string& what, const std::string& color) {
  Chart c;
  c.title = what + " CDF";
  c.x_label = what + " (ms)";
  c.y_label = "fraction of requests";
  Series s;
  s.color = color;
  std::vector<double> v = ms;
  std::sort(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i) {
    s.x.push_back(v[i]);
    s.y.push_back(double(i + 1) / double(v.size()));
  }
  c.series.push_back(s);
  return c;
}
}  // namespace

Status write_run_plots(const std::vector<RequestOutput>& outs, const ServeMetrics&, const std::string& dir,
                       const std::string& suffix) {
  std::vector<double> ttft, tpot;
  double end = 0;
  for (const auto& o : outs) {
    end = std::max(end, o.start_time + o.latency);
    if (!o.success) continue;
    ttft.push_back(o.ttft * 1000);
    if (o.output_tokens > 1) tpot.push_back((o.latency - o.ttft) / double(o.output_tokens - 1) * 1000);
  }
  DS_RETURN_IF_ERROR(write(dir, "ttft_hist" + suffix + ".svg", histogram(ttft, "TTFT", "#1f77b4")));
  DS_RETURN_IF_ERROR(write(dir, "tpot_hist" + suffix + ".svg", histogram(tpot, "TPOT", "#ff7f0e")));
  DS_RETURN_IF_ERROR(write(dir, "ttft_cdf" + suffix + ".svg", cdf(ttft, "TTFT", "#1f77b4")));
  DS_RETURN_IF_ERROR(write(dir, "tpot_cdf" + suffix + ".svg", cdf(tpot, "TPOT", "#ff7f0e")));

  // Throughput over time: output tokens (at their chunk arrival) and completions, per time bin.
  const double bin = end > 60 ? std::ceil(end / 60) : end > 10 ? 1.0 : std::max(end / 20, 0.05);
  const size_t nb = size_t(std::ceil(end / bin)) + 1;
  std::vector<double> tok(nb, 0), req(nb, 0);
  for (const auto& o : outs) {
    if (!o.success) continue;
    req[std::min(nb - 1, size_t((o.start_time + o.latency) / bin))] += 1;
    if (o.chunks == 0) continue;
    const double per = double(o.output_tokens) / double(o.chunks);
    double t = o.start_time + o.ttft;
    tok[std::min(nb - 1, size_t(t / bin))] += per;
    for (double d : o.itl) tok[std::min(nb - 1, size_t((t += d) / bin))] += per;
  }
  Chart th;
  th.title = "Throughput over time";
  th.x_label = "time since start (s)";
  th.y_label = "per second";
  Series st{"output tokens/s", {}, {}, "#2ca02c"}, sr{"completed requests/s", {}, {}, "#d62728"};
  for (size_t i = 0; i < nb; ++i) {
    st.x.push_back((double(i) + 0.5) * bin);
    st.y.push_back(tok[i] / bin);
    sr.x.push_back((double(i) + 0.5) * bin);
    sr.y.push_back(req[i] / bin);
  }
  th.series = {st, sr};
  DS_RETURN_IF_ERROR(write(dir, "throughput_over_time" + suffix + ".svg", th));

  Chart lat;
  lat.title = "Latency over time (by request start)";
  lat.x_label = "request start (s)";
  lat.y_label = "ms";
  Series se{"E2E latency", {}, {}, "#9467bd", Series::kPoints}, sf{"TTFT", {}, {}, "#1f77b4", Series::kPoints};
  for (const auto& o : outs) {
    if (!o.success) continue;
    se.x.push_back(o.start_time);
    se.y.push_back(o.latency * 1000);
    sf.x.push_back(o.start_time);
    sf.y.push_back(o.ttft * 1000);
  }
  lat.series = {se, sf};
  return write(dir, "latency_over_time" + suffix + ".svg", lat);
}

Status write_sweep_plot(const std::vector<SweepPoint>& pts, const std::string& dir) {
  Chart c;
  c.title = "Throughput vs latency (--max-concurrency sweep)";
  c.x_label = "output throughput (tok/s)";
  c.y_label = "latency (ms)";
  Series med{"median E2E latency", {}, {}, "#1f77b4", Series::kLinePoints};
  Series p99{"P99 E2E latency", {}, {}, "#d62728", Series::kLinePoints};
  Series ttft{"median TTFT", {}, {}, "#2ca02c", Series::kLinePoints};
  for (const auto& p : pts) {
    med.x.push_back(p.output_throughput);
    med.y.push_back(p.median_e2el_ms);
    p99.x.push_back(p.output_throughput);
    p99.y.push_back(p.p99_e2el_ms);
    ttft.x.push_back(p.output_throughput);
    ttft.y.push_back(p.median_ttft_ms);
  }
  c.series = {med, p99, ttft};
  DS_RETURN_IF_ERROR(write(dir, "sweep_throughput_latency.svg", c));
  Chart t;
  t.title = "Output throughput by concurrency";
  t.x_label = "max concurrency";
  t.y_label = "output tokens/s";
  Series s{"output tok/s", {}, {}, "#2ca02c", Series::kLinePoints};
  for (const auto& p : pts) {
    s.x.push_back(double(p.concurrency));
    s.y.push_back(p.output_throughput);
  }
  t.series = {s};
  return write(dir, "sweep_throughput.svg", t);
}
}  // namespace ds::bench
