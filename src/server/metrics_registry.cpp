#include "server/metrics_registry.h"

#include <charconv>
#include <cmath>

#include "common/check.h"

namespace ds::metrics {

namespace {

void append_labels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && !le) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (le) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void append_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name, const Labels& labels, double v,
                   const std::string* le = nullptr) {
  out += name;
  append_labels(out, labels, le);
  out += ' ';
  out += format_value(v);
  out += '\n';
}

// Lock-free add on an atomic<double> (fetch_add for floating atomics is C++20 but compiles to the
// same loop; written out so the memory order is explicit).
void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  DS_CHECK(ec == std::errc()) << v;
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void Counter::inc(double v) {
  DS_CHECK(v >= 0) << "counter decrement " << v;
  atomic_add(v_, v);
}

void Counter::set_total(double v) { v_.store(v, std::memory_order_relaxed); }

void Gauge::inc(double v) { atomic_add(v_, v); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    DS_CHECK(std::isfinite(bounds_[i])) << "histogram bound " << bounds_[i];
    if (i > 0) {
      DS_CHECK_LT(bounds_[i - 1], bounds_[i]);
    }
  }
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) { observe_n(v, 1); }

void Histogram::observe_n(double v, uint64_t n) {
  if (n == 0) return;
  // Bucket i counts values in (bounds[i-1], bounds[i]]; the last bucket is +Inf (and NaN).
  size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  std::lock_guard lock(mu_);
  counts_[i] += n;
  sum_ += v * double(n);
  count_ += n;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  std::lock_guard lock(mu_);
  s.cumulative.resize(counts_.size());
  uint64_t acc = 0;
  for (size_t i = 0; i < counts_.size(); ++i) s.cumulative[i] = acc += counts_[i];
  s.sum = sum_;
  s.count = count_;
  return s;
}

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type)
    : name_(std::move(name)), help_(std::move(help)), type_(type) {
  DS_CHECK(is_valid_metric_name(name_)) << name_;
  DS_CHECK(type_ != MetricType::kCounter || name_.ends_with("_total")) << name_;
}

template <class M>
M& Family<M>::labels(const Labels& labels) {
  std::lock_guard lock(mu_);
  auto it = series_.find(labels);
  if (it != series_.end()) return *it->second;
  for (const auto& [k, v] : labels) {
    DS_CHECK(is_valid_label_name(k)) << name_ << " label " << k;
    DS_CHECK((!std::is_same_v<M, Histogram> || k != "le")) << name_;
  }
  std::unique_ptr<M> m;
  if constexpr (std::is_same_v<M, Histogram>) {
    m = std::make_unique<Histogram>(bounds_);
  } else {
    m = std::make_unique<M>();
  }
  return *series_.emplace(labels, std::move(m)).first->second;
}

template <class M>
void Family<M>::render(std::string& out) const {
  constexpr const char* kType = std::is_same_v<M, Counter> ? "counter"
                                : std::is_same_v<M, Gauge> ? "gauge"
                                                           : "histogram";
  append_header(out, name_, help_, kType);
  std::lock_guard lock(mu_);
  for (const auto& [labels, m] : series_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      const Histogram::Snapshot s = m->snapshot();
      const std::string bucket = name_ + "_bucket";
      for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
        const std::string le = i < s.upper_bounds.size() ? format_value(s.upper_bounds[i]) : "+Inf";
        append_sample(out, bucket, labels, double(s.cumulative[i]), &le);
      }
      append_sample(out, name_ + "_count", labels, double(s.count));
      append_sample(out, name_ + "_sum", labels, s.sum);
    } else {
      append_sample(out, name_, labels, m->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

namespace {
template <class F>
F& add_family(std::mutex& mu, std::vector<std::unique_ptr<FamilyBase>>& families, std::unique_ptr<F> f) {
  std::lock_guard lock(mu);
  for (const auto& g : families) DS_CHECK(g->name() != f->name()) << "duplicate metric " << f->name();
  F& ref = *f;
  families.push_back(std::move(f));
  return ref;
}
}  // namespace

Family<Counter>& Registry::add_counter(const std::string& name, const std::string& help) {
  return add_family(mu_, families_, std::make_unique<Family<Counter>>(name, help, MetricType::kCounter));
}

Family<Gauge>& Registry::add_gauge(const std::string& name, const std::string& help) {
  return add_family(mu_, families_, std::make_unique<Family<Gauge>>(name, help, MetricType::kGauge));
}

Family<Histogram>& Registry::add_histogram(const std::string& name, const std::string& help,
                                           std::vector<double> upper_bounds) {
  Histogram check(upper_bounds);  // validates the bounds at registration, not at first use
  return add_family(mu_, families_,
                    std::make_unique<Family<Histogram>>(name, help, MetricType::kHistogram, std::move(upper_bounds)));
}

std::string Registry::render() const {
  std::string out;
  out.reserve(16 * 1024);
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace ds::metrics
