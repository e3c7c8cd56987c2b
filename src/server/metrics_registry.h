#pragma once
// A small Prometheus registry rendered by hand in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): counters, gauges and histograms,
// each a family of labelled series, with one `# HELP` and one `# TYPE` line per family.
//
// Threads: every method of every class here may be called from any thread.
//  - Counter / Gauge updates are lock-free atomics.
//  - Histogram::observe takes a per-series mutex, so a render always sees a consistent series
//    (cumulative buckets, `+Inf` bucket == `_count`).
//  - Family::labels() and Registry::add_*() take a mutex; references they return stay valid for
//    the registry's lifetime (series are never removed), so hot paths should look a series up
//    once and keep the reference.
//  - Registry::render() may run concurrently with observations; it sees each series atomically.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ds::metrics {

// Label name/value pairs in the order they are rendered, e.g. {{"model_name", "r1"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotone counter. The family name must end in `_total` (as rendered).
class Counter {
 public:
  void inc(double v = 1.0);  // v >= 0
  // Mirrors a monotone counter kept elsewhere (e.g. an EngineStats atomic) at scrape time.
  void set_total(double v);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0);
  void dec(double v = 1.0) { inc(-v); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

class Histogram {
 public:
  struct Snapshot {
    std::vector<double> upper_bounds;   // finite bounds, strictly increasing (+Inf implied)
    std::vector<uint64_t> cumulative;   // [upper_bounds.size() + 1]; last = +Inf = count
    double sum = 0.0;
    uint64_t count = 0;
  };
  // `upper_bounds` must be finite and strictly increasing (checked).
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  void observe_n(double v, uint64_t n);  // n observations of the same value
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; [bounds_.size() + 1]
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric family: a name, a help text and a set of labelled series of one type.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  // Appends this family (HELP, TYPE, samples) to `out`; families with no series render
  // only their HELP and TYPE lines.
  virtual void render(std::string& out) const = 0;

 protected:
  std::string name_, help_;
  MetricType type_;
};

template <class M>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type), bounds_(std::move(bounds)) {}
  // The series for these labels, created on first use. Label names are checked
  // ([a-zA-Z_][a-zA-Z0-9_]*, not `le` on histograms); values may be any UTF-8 (escaped on render).
  M& labels(const Labels& labels);
  void render(std::string& out) const override;

 private:
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<M>> series_;  // sorted: stable output order
};

class Registry {
 public:
  // Registration is normally done once at start-up. Names are checked
  // ([a-zA-Z_:][a-zA-Z0-9_:]*, counters end in `_total`) and must be unique.
  Family<Counter>& add_counter(const std::string& name, const std::string& help);
  Family<Gauge>& add_gauge(const std::string& name, const std::string& help);
  Family<Histogram>& add_histogram(const std::string& name, const std::string& help,
                                   std::vector<double> upper_bounds);
  // Text exposition format 0.0.4 ("text/plain; version=0.0.4; charset=utf-8"), families in
  // registration order, series sorted by labels.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposed for tests and for other renderers.
std::string escape_label_value(std::string_view v);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(std::string_view v);         // \ -> \\, newline -> \n
// Go/Prometheus float text as prometheus_client writes it: "+Inf", "-Inf", "NaN", integral
// values with ".0" ("1.0", so `le` labels match vLLM's series), otherwise the shortest
// round-trip form ("0.005", "1e-07").
std::string format_value(double v);
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);

}  // namespace ds::metrics
