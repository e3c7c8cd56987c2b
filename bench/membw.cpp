// Measures host memory read bandwidth (the limit for CPU decode): every thread streams its share
// of a buffer much larger than the caches; the best of several passes is reported in GB/s.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const size_t bytes = size_t(argc > 1 ? std::atof(argv[1]) : 2.0) * (1ull << 30);
  const size_t n = bytes / sizeof(float);
  std::vector<float> buf(n);
#pragma omp parallel for
  for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // first touch by the reading thread
  double best = 0, sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    float s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; ++i) s += buf[i];
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(bytes) / sec / 1e9);
    sink += s;
  }
  std::printf("{\"read_GBps\": %.2f, \"bytes\": %zu, \"threads\": %d, \"checksum\": %g}\n", best, bytes,
              omp_get_max_threads(), sink);
  return 0;
}
