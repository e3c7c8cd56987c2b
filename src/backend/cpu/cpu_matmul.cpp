#include "backend/cpu/cpu_matmul.h"

// GCC 12 reports its own _mm512_undefined_* helpers as maybe-uninitialized (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>


namespace ds::cpu {
namespace {

constexpr int64_t kGemvMaxRows = 4;  // activation rows sharing one pass over a weight row

float dot_scalar(const float* x, const void* w, DType wt, int64_t k) {
  float acc = 0.f;
  for (int64_t i = 0; i < k; ++i) acc += x[i] * load_as_f32(w, wt, size_t(i));
  return acc;
}

__attribute__((target("avx512f"))) inline __m512 load16(const void* w, DType wt, int64_t i) {
  if (wt == DType::kF32) return _mm512_loadu_ps(static_cast<const float*>(w) + i);
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
  if (wt == DType::kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// rows x (up to kGemvMaxRows) dotted with one weight row; 4 accumulators hide FMA latency.
__attribute__((target("avx512f"))) void gemv_row_avx512(const float* x, int64_t t_rows, int64_t ldx,
                                                          const void* w, DType wt, int64_t k, float* acc_out) {
  __m512 acc[kGemvMaxRows];
  for (int64_t t = 0; t < t_rows; ++t) acc[t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 wv = load16(w, wt, i);
    for (int64_t t = 0; t < t_rows; ++t) acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * ldx + i), wv, acc[t]);
  }
  for (int64_t t = 0; t < t_rows; ++t) {
    float s = _mm512_reduce_add_ps(acc[t]);
    for (int64_t j = i; j < k; ++j) s += x[t * ldx + j] * load_as_f32(w, wt, size_t(j));
    acc_out[t] = s;
  }
}

bool has_avx512() {
  static const bool kHas = __builtin_cpu_supports("avx512f");
  return kHas;
}

constexpr int64_t kTileRows = 32;  // weight rows per tile (32 x 8960 x 2 bytes fits L2)

// All rows of x against weight rows [r0, r1): for each weight row, T rows in groups of 4.
void matmul_tile(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, int64_t r0, int64_t r1,
                 bool avx) {
  const int64_t t_rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  const size_t row_bytes = size_t(k) * dtype_size(w.dtype);
  const float* xp = x.ptr<float>();
  float* op = out.ptr<float>();
  for (int64_t t0 = 0; t0 < t_rows; t0 += kGemvMaxRows) {
    const int64_t tn = std::min(kGemvMaxRows, t_rows - t0);
    for (int64_t r = r0; r < r1; ++r) {
      const void* wr = static_cast<const char*>(w.data) + size_t(r) * row_bytes;
      float acc[kGemvMaxRows];
      if (avx) {
        gemv_row_avx512(xp + t0 * k, tn, k, wr, w.dtype, k, acc);
      } else {
        for (int64_t t = 0; t < tn; ++t) acc[t] = dot_scalar(xp + (t0 + t) * k, wr, w.dtype, k);
      }
      const float b = bias.defined() ? load_as_f32(bias.data, bias.dtype, size_t(r)) : 0.f;
      for (int64_t t = 0; t < tn; ++t) op[(t0 + t) * n + r] = acc[t] + b;
    }
  }
}

}  // namespace

void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) {
  DS_CHECK(x.dtype == DType::kF32 && out.dtype == DType::kF32);
  DS_CHECK_EQ(x.dim(1), w.dim(1));
  DS_CHECK(out.dim(0) == x.dim(0) && out.dim(1) == w.dim(0)) << out.shape_str() << " " << w.shape_str();
  if (x.dim(0) == 0) return;
  const bool avx = has_avx512();
  const int64_t n = w.dim(0), tiles = (n + kTileRows - 1) / kTileRows;
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < tiles; ++tile)
    matmul_tile(x, w, bias, out, tile * kTileRows, std::min(n, (tile + 1) * kTileRows), avx);
}

void matmul_reference(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t r = 0; r < n; ++r) {
      double acc = bias.defined() ? load_as_f32(bias.data, bias.dtype, size_t(r)) : 0.0;
      for (int64_t i = 0; i < k; ++i)
        acc += double(x.ptr<float>()[t * k + i]) * load_as_f32(w.data, w.dtype, size_t(r * k + i));
      out.ptr<float>()[t * n + r] = float(acc);
    }
  }
}

}  // namespace ds::cpu
