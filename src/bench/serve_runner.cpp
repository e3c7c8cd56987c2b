#include "bench/serve_runner.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

namespace ds::bench {

std::vector<double> arrival_times(int64_t n, double rate, double burstiness, uint64_t seed) {
  std::vector<double> t(size_t(std::max<int64_t>(n, 0)), 0.0);
  if (!(rate > 0) || std::isinf(rate)) return t;
  // Gamma(shape k, scale 1/(rate k)) has mean 1/rate; k = 1 is the exponential (Poisson) gap.
  const double k = burstiness > 0 ? burstiness : 1.0;
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::gamma_distribution<double> gap(k, 1.0 / (rate * k));
  double now = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i > 0) now += gap(rng);  // the first request goes at once
    t[i] = now;
  }
  return t;
}

RunResult run_requests(const Endpoint& ep, const RequestOptions& ro, const std::vector<RequestInput>& inputs,
                       const RunOptions& o) {
  RunResult r;
  r.outputs.resize(inputs.size());
  const auto arrivals = arrival_times(int64_t(inputs.size()), o.request_rate, o.burstiness, o.seed);
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0, done = 0, failed = 0;
  std::vector<std::thread> threads;
  threads.reserve(inputs.size());
  const auto t0 = Clock::now();
  std::atomic<bool> finished{false};
  std::thread progress;
  if (o.progress) {
    progress = std::thread([&] {
      while (!finished.load()) {
        {
          std::unique_lock lk(mu);
          std::fprintf(stderr, "\r  %lld/%zu done, %lld in flight, %lld failed   ", (long long)done, inputs.size(),
                       (long long)in_flight, (long long)failed);
          cv.wait_for(lk, std::chrono::milliseconds(500));
        }
      }
      std::fprintf(stderr, "\r%70s\r", "");
    });
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals[i])));
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return o.max_concurrency <= 0 || in_flight < o.max_concurrency; });
      ++in_flight;
    }
    threads.emplace_back([&, i] {
      RequestOutput out = send_request(ep, ro, inputs[i], t0);
      std::lock_guard lk(mu);
      failed += !out.success;
      r.outputs[i] = std::move(out);
      --in_flight;
      ++done;
      cv.notify_all();
    });
  }
  for (auto& t : threads) t.join();
  r.duration = std::chrono::duration<double>(Clock::now() - t0).count();
  finished = true;
  cv.notify_all();
  if (progress.joinable()) progress.join();
  return r;
}
}  // namespace ds::bench
