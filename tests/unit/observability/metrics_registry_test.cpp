#include "server/metrics_registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "exposition_checker.h"

namespace ds::metrics {
namespace {

using ds::testing::check_exposition;

TEST(MetricsRegistry, RendersCountersGaugesAndHistograms) {
  Registry reg;
  reg.add_counter("app:requests_total", "Requests.").labels({{"code", "200"}}).inc(3);
  reg.add_gauge("app:temperature", "Degrees.").labels({}).set(-1.5);
  auto& h = reg.add_histogram("app:latency_seconds", "Latency.", {0.25, 1, 10}).labels({{"model_name", "m"}});
  for (double v : {0.125, 0.25, 0.5, 2.0, 100.0}) h.observe(v);

  const std::string text = reg.render();
  EXPECT_EQ(text,
            "# HELP app:requests_total Requests.\n"
            "# TYPE app:requests_total counter\n"
            "app:requests_total{code=\"200\"} 3.0\n"
            "# HELP app:temperature Degrees.\n"
            "# TYPE app:temperature gauge\n"
            "app:temperature -1.5\n"
            "# HELP app:latency_seconds Latency.\n"
            "# TYPE app:latency_seconds histogram\n"
            "app:latency_seconds_bucket{model_name=\"m\",le=\"0.25\"} 2.0\n"
            "app:latency_seconds_bucket{model_name=\"m\",le=\"1.0\"} 3.0\n"
            "app:latency_seconds_bucket{model_name=\"m\",le=\"10.0\"} 4.0\n"
            "app:latency_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 5.0\n"
            "app:latency_seconds_count{model_name=\"m\"} 5.0\n"
            "app:latency_seconds_sum{model_name=\"m\"} 102.875\n");
  auto ex = check_exposition(text);
  EXPECT_TRUE(ex.errors.empty()) << ex.errors[0];
}

TEST(MetricsRegistry, FormatsValuesLikePrometheusClient) {
  EXPECT_EQ(format_value(1), "1.0");
  EXPECT_EQ(format_value(0), "0.0");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(2560), "2560.0");
  EXPECT_EQ(format_value(1e-7), "1e-07");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_value(NAN), "NaN");
  EXPECT_EQ(format_value(123456789012.0), "123456789012.0");
  EXPECT_EQ(std::stod(format_value(0.1 + 0.2)), 0.1 + 0.2);  // round trip
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_help("x\\y\nz\"q"), "x\\\\y\\nz\"q");

  Registry reg;
  const std::string nasty = "we\"ird\\mo\ndel {name}=,é";
  reg.add_gauge("g", "Help with \\ and\nnewline.").labels({{"model_name", nasty}}).set(1);
  const std::string text = reg.render();
  EXPECT_NE(text.find("g{model_name=\"we\\\"ird\\\\mo\\ndel {name}=,é\"} 1.0\n"), std::string::npos) << text;
  auto ex = check_exposition(text);
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  ASSERT_EQ(ex.samples.size(), 1u);
  EXPECT_EQ(ex.samples[0].label("model_name"), nasty);  // the checker's unescape gives it back
  EXPECT_EQ(ex.helps["g"], "Help with \\ and\nnewline.");
}

TEST(MetricsRegistry, SeriesAreSortedAndStable) {
  Registry reg;
  auto& fam = reg.add_counter("c_total", "C.");
  Counter& b = fam.labels({{"k", "b"}});
  fam.labels({{"k", "a"}}).inc();
  EXPECT_EQ(&fam.labels({{"k", "b"}}), &b);  // same series, same object
  b.inc(2);
  EXPECT_EQ(reg.render(), "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"a\"} 1.0\nc_total{k=\"b\"} 2.0\n");
}

TEST(MetricsRegistry, EmptyFamilyRendersHeaderOnly) {
  Registry reg;
  reg.add_histogram("h", "H.", {1, 2});
  const std::string text = reg.render();
  EXPECT_EQ(text, "# HELP h H.\n# TYPE h histogram\n");
  EXPECT_TRUE(check_exposition(text).errors.empty());
}

TEST(MetricsRegistry, NameValidation) {
  EXPECT_TRUE(is_valid_metric_name("vllm:num_requests_running"));
  EXPECT_TRUE(is_valid_metric_name("_x9"));
  EXPECT_FALSE(is_valid_metric_name("9x"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_TRUE(is_valid_label_name("model_name"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("__reserved"));
  EXPECT_FALSE(is_valid_label_name("0a"));
}

TEST(MetricsRegistryDeathTest, RejectsProgrammerErrors) {
  Registry reg;
  EXPECT_DEATH(reg.add_counter("no_suffix", "x"), "check failed");
  EXPECT_DEATH(reg.add_histogram("h", "x", {2, 1}), "check failed");
  reg.add_gauge("dup", "x");
  EXPECT_DEATH(reg.add_gauge("dup", "x"), "duplicate metric");
  auto& h = reg.add_histogram("h2", "x", {1});
  EXPECT_DEATH(h.labels({{"le", "1"}}), "check failed");
  EXPECT_DEATH(reg.add_counter("c_total", "x").labels({}).inc(-1), "counter decrement");
}

TEST(MetricsRegistry, HistogramBucketEdgesAreInclusive) {
  Histogram h({1, 2});
  h.observe(1.0);      // le="1"
  h.observe(1.0001);   // le="2"
  h.observe(2.0);      // le="2"
  h.observe(2.5);      // +Inf
  h.observe_n(0.5, 3);
  auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{4, 6, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 1.0 + 1.0001 + 2.0 + 2.5 + 1.5);
}

// 8 threads x 1000 observations each, rendered concurrently: the totals are exact and every
// render in between is itself valid (each histogram series is consistent).
TEST(MetricsRegistry, ConcurrentObservationsAreCountedExactly) {
  Registry reg;
  auto& counters = reg.add_counter("hits_total", "Hits.");
  auto& gauge = reg.add_gauge("level", "Level.").labels({});
  auto& hist = reg.add_histogram("lat", "Lat.", {0.25, 0.5, 0.75});
  constexpr int kThreads = 8, kPerThread = 1000;
  std::atomic<bool> done{false};
  std::vector<std::string> errors;
  std::thread scraper([&] {
    while (!done.load()) {
      auto ex = check_exposition(reg.render());
      if (!ex.errors.empty()) errors.push_back(ex.errors[0]);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      // Each thread also looks its series up itself (creation races on the family mutex).
      Counter& c = counters.labels({{"worker", std::to_string(t % 2)}});
      Histogram& h = hist.labels({{"model_name", "m"}});
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        gauge.inc(0.5);
        h.observe(double(i % 4) * 0.25);  // 0, 0.25, 0.5, 0.75 each 250 times per thread
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  scraper.join();
  EXPECT_TRUE(errors.empty()) << errors.front();

  auto ex = check_exposition(reg.render());
  ASSERT_TRUE(ex.errors.empty()) << ex.errors[0];
  EXPECT_EQ(ex.value("hits_total", {{"worker", "0"}}), kThreads / 2 * kPerThread);
  EXPECT_EQ(ex.value("hits_total", {{"worker", "1"}}), kThreads / 2 * kPerThread);
  EXPECT_EQ(ex.value("level"), 0.5 * kThreads * kPerThread);
  EXPECT_EQ(ex.value("lat_count"), kThreads * kPerThread);
  EXPECT_EQ(ex.value("lat_bucket", {{"le", "0.25"}}), kThreads * kPerThread / 2);
  EXPECT_EQ(ex.value("lat_bucket", {{"le", "0.5"}}), kThreads * kPerThread * 3 / 4);
  EXPECT_EQ(ex.value("lat_bucket", {{"le", "0.75"}}), kThreads * kPerThread);
  EXPECT_DOUBLE_EQ(ex.value("lat_sum"), kThreads * (kPerThread / 4) * (0.25 + 0.5 + 0.75));
}

TEST(ExpositionChecker, CatchesBrokenOutput) {
  using ds::testing::check_exposition;
  EXPECT_FALSE(check_exposition("x 1\n").errors.empty());                                   // no TYPE
  EXPECT_FALSE(check_exposition("# TYPE x gauge\nx{a=\"b} 1\n").errors.empty());            // unterminated
  EXPECT_FALSE(check_exposition("# TYPE x gauge\nx{a=\"\\q\"} 1\n").errors.empty());        // bad escape
  EXPECT_FALSE(check_exposition("# TYPE x gauge\nx one\n").errors.empty());                 // bad value
  EXPECT_FALSE(check_exposition("# TYPE x gauge\n# TYPE x gauge\nx 1\n").errors.empty());   // TYPE twice
  EXPECT_FALSE(check_exposition("# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx 2\n").errors.empty());
  EXPECT_FALSE(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                "h_count 1\nh_sum 0\n").errors.empty());                     // not cumulative
  EXPECT_FALSE(check_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 0\n")
                   .errors.empty());                                                        // +Inf != count
  EXPECT_FALSE(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\nh_sum 0\n")
                   .errors.empty());                                                        // no +Inf
  EXPECT_TRUE(check_exposition("# HELP x y\n# TYPE x gauge\nx{a=\"\\\"\"} -Inf 123\n").errors.empty());
}

}  // namespace
}  // namespace ds::metrics
