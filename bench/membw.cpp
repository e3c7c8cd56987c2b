// Measures host memory read bandwidth (the limit for CPU decode): every thread streams its share
// of a buffer much larger than the caches; the best of several passes is reported in GB/s.
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

// Sums [begin, end) with four independent AVX2 accumulators so the loop is bound by loads, not by
// the latency of one add chain (a single accumulator measured ~3x less than the memory delivers).
__attribute__((target("avx2"))) static float sum_range(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
  for (; i < n; ++i) s += p[i];
  return s;
}

int main(int argc, char** argv) {
  const size_t bytes = size_t(argc > 1 ? std::atof(argv[1]) : 2.0) * (1ull << 30);
  const size_t n = bytes / sizeof(float);
  std::vector<float> buf(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // first touch by the reading thread
  double best = 0, sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    float s = 0;
#pragma omp parallel reduction(+ : s)
    {
      const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
      const size_t begin = n * t / nt, end = n * (t + 1) / nt;
      s += sum_range(buf.data() + begin, end - begin);
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(bytes) / sec / 1e9);
    sink += s;
  }
  std::printf("{\"read_GBps\": %.2f, \"bytes\": %zu, \"threads\": %d, \"checksum\": %g}\n", best, bytes,
              omp_get_max_threads(), sink);
  return 0;
}
