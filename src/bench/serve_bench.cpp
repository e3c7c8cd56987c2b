#include "bench/serve_bench.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/plots.h"
#include "bench/serve_runner.h"
#include "tokenizer/tokenizer.h"

namespace ds::bench {
namespace {
std::string now_stamp(const char* fmt) {
  char b[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(b, sizeof b, fmt, &tm);
  return b;
}

std::string rate_str(double r) {
  if (!(r > 0) || std::isinf(r)) return "inf";
  char b[32];
  std::snprintf(b, sizeof b, "%g", r);
  return b;
}

Status save(const nlohmann::json& j, const std::filesystem::path& p) {
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::ofstream f(p);
  if (!f) return io_error("cannot write " + p.string());
  f << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return Status::ok();
}

std::string base_model_id(const std::string& model) {
  const auto p = model.find_last_of('/');
  return p == std::string::npos ? model : model.substr(p + 1);
}
}  // namespace

Result<Slo> parse_goodput(const std::vector<std::string>& items) {
  Slo slo;
  for (const auto& it : items) {
    const auto c = it.find(':');
    const std::string k = it.substr(0, c);
    if (c == std::string::npos || (k != "ttft" && k != "tpot" && k != "e2el"))
      return invalid_argument("--goodput: '" + it + "' must be ttft:MS, tpot:MS or e2el:MS");
    try {
      slo[k] = std::stod(it.substr(c + 1));
    } catch (const std::exception&) {
      return invalid_argument("--goodput: '" + it + "' has no number of milliseconds");
    }
  }
  return slo;
}

Result<std::vector<ServeBenchRun>> run_serve_bench(const ServeBenchConfig& c) {
  DS_ASSIGN_OR_RETURN(Slo slo, parse_goodput(c.goodput));
  for (const auto& m : c.percentile_metrics)
    if (m != "ttft" && m != "tpot" && m != "itl" && m != "e2el")
      return invalid_argument("--percentile-metrics: unknown metric '" + m + "' (ttft, tpot, itl, e2el)");
  std::unique_ptr<Tokenizer> tok;
  if (!c.tokenizer_dir.empty()) {
    auto t = Tokenizer::load(c.tokenizer_dir);
    if (!t.ok()) return t.status();
    tok = std::move(t.value());
  }
  DatasetOptions dopt = c.dataset;
  dopt.num_prompts += c.warmup;
  DS_ASSIGN_OR_RETURN(std::vector<RequestInput> all, make_dataset(dopt, tok.get()));
  std::vector<RequestInput> warm(all.begin(), all.begin() + std::min<size_t>(all.size(), size_t(c.warmup)));
  std::vector<RequestInput> inputs(all.begin() + int64_t(warm.size()), all.end());

  std::vector<int64_t> sweep = c.max_concurrency;
  if (sweep.empty()) sweep.push_back(0);
  std::vector<ServeBenchRun> runs;
  for (int64_t mc : sweep) {
    if (!c.quiet)
      std::printf("Traffic request rate: %s, burstiness: %g, max concurrency: %s, %zu prompts\n",
                  rate_str(c.request_rate).c_str(), c.burstiness, mc > 0 ? std::to_string(mc).c_str() : "None",
                  inputs.size());
    RunOptions ro{c.request_rate, c.burstiness, mc, c.dataset.seed, c.progress};
    if (!warm.empty()) {
      RunOptions wo = ro;
      wo.request_rate = 0;
      const auto w = run_requests(c.endpoint, c.request, warm, wo);
      int64_t ok = 0;
      for (const auto& o : w.outputs) ok += o.success;
      if (!c.quiet) std::printf("Warm-up: %lld/%zu requests succeeded\n", (long long)ok, warm.size());
    }
    RunResult rr = run_requests(c.endpoint, c.request, inputs, ro);
    ServeBenchRun run;
    run.max_concurrency = mc;
    run.metrics = calculate_metrics(rr.outputs, rr.duration, c.metric_percentiles, slo);
    if (!c.quiet) {
      std::fputs(format_table(run.metrics, c.percentile_metrics, mc, c.request_rate).c_str(), stdout);
      std::fflush(stdout);
    }
    nlohmann::json j = metrics_json(run.metrics, rr.outputs);
    j["date"] = now_stamp("%Y%m%d-%H%M%S");
    j["endpoint_type"] = c.endpoint.chat() ? "openai-chat" : "openai";
    j["backend"] = j["endpoint_type"];
    j["label"] = c.label;
    j["model_id"] = c.request.model;
    j["tokenizer_id"] = c.tokenizer_dir.empty() ? c.request.model : c.tokenizer_dir;
    j["num_prompts"] = inputs.size();
    j["dataset_name"] = c.dataset.name;
    j["request_rate"] = rate_str(c.request_rate);
    j["burstiness"] = c.burstiness;
    j["max_concurrency"] = mc > 0 ? nlohmann::json(mc) : nlohmann::json(nullptr);
    j["base_url"] = c.endpoint.base_url;
    j["endpoint"] = c.endpoint.path;
    run.result = std::move(j);
    if (c.save_result) {
      std::string name = c.result_filename;
      if (name.empty()) {
        name = std::string(c.endpoint.chat() ? "openai-chat" : "openai") + "-" + rate_str(c.request_rate) + "qps" +
               (mc > 0 ? "-concurrency" + std::to_string(mc) : "") + "-" + base_model_id(c.request.model) + "-" +
               now_stamp("%Y%m%d-%H%M%S") + ".json";
      } else if (sweep.size() > 1) {
        const auto dot = name.rfind(".json");
        name = name.substr(0, dot) + "-c" + std::to_string(mc) + ".json";
      }
      const std::filesystem::path p = std::filesystem::path(c.result_dir.empty() ? "." : c.result_dir) / name;
      if (Status s = save(run.result, p); !s) std::fprintf(stderr, "dsserve bench: %s\n", s.message().c_str());
      else if (!c.quiet) std::printf("Saved %s\n", p.c_str());
    }
    run.outputs = std::move(rr.outputs);
    if (!c.plot_dir.empty()) {
      const std::string suffix = sweep.size() > 1 ? "_c" + std::to_string(mc) : "";
      if (Status s = write_run_plots(run.outputs, run.metrics, c.plot_dir, suffix); !s)
        std::fprintf(stderr, "dsserve bench: %s\n", s.message().c_str());
    }
    runs.push_back(std::move(run));
  }
  if (!c.plot_dir.empty() && runs.size() > 1) {
    std::vector<SweepPoint> pts;
    for (const auto& r : runs)
      pts.push_back({r.max_concurrency, r.metrics.output_throughput, r.metrics.request_throughput,
                     r.metrics.ttft.median, r.metrics.tpot.median, r.metrics.e2el.median,
                     r.metrics.e2el.percentiles.empty() ? r.metrics.e2el.median : r.metrics.e2el.percentiles.back().second});
    if (Status s = write_sweep_plot(pts, c.plot_dir); !s) std::fprintf(stderr, "dsserve bench: %s\n", s.message().c_str());
  }
  if (!c.quiet && runs.size() > 1) {
    std::printf("\n%-12s %12s %14s %14s %14s %14s\n", "concurrency", "req/s", "output tok/s", "median TTFT", "median TPOT",
                "median E2EL");
    for (const auto& r : runs)
      std::printf("%-12lld %12.2f %14.2f %11.2f ms %11.2f ms %11.2f ms\n", (long long)r.max_concurrency,
                  r.metrics.request_throughput, r.metrics.output_throughput, r.metrics.ttft.median, r.metrics.tpot.median,
                  r.metrics.e2el.median);
  }
  return runs;
}
}  // namespace ds::bench
