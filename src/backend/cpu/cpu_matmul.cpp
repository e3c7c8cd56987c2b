#include "backend/cpu/cpu_matmul.h"

// GCC 12 reports its own _mm512_undefined_* helpers as maybe-uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include <oneapi/dnnl/dnnl.h>

namespace ds::cpu {
namespace {

constexpr int64_t kGemvMaxRows = 4;   // up to this many activation rows use the GEMV path
constexpr int64_t kPanelRows = 64;    // weight rows widened at once on the GEMM path

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

void gemv(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) {
  const int64_t t_rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  const size_t row_bytes = size_t(k) * dtype_size(w.dtype);
  const bool avx = has_avx512();
  const float* xp = x.ptr<float>();
  float* op = out.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const void* wr = static_cast<const char*>(w.data) + size_t(r) * row_bytes;
    float acc[kGemvMaxRows];
    if (avx) {
      gemv_row_avx512(xp, t_rows, k, wr, w.dtype, k, acc);
    } else {
      for (int64_t t = 0; t < t_rows; ++t) acc[t] = dot_scalar(xp + t * k, wr, w.dtype, k);
    }
    const float b = bias.defined() ? load_as_f32(bias.data, bias.dtype, size_t(r)) : 0.f;
    for (int64_t t = 0; t < t_rows; ++t) op[t * n + r] = acc[t] + b;
  }
}

void widen(const void* src, DType t, size_t count, float* dst) {
  for (size_t i = 0; i < count; ++i) dst[i] = load_as_f32(src, t, i);
}

void gemm_panels(const Tensor& x, const Tensor& w, Tensor out) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
  const size_t row_bytes = size_t(k) * dtype_size(w.dtype);
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
#pragma omp parallel
  {
    std::vector<float> panel(size_t(kPanelRows * k));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t r0 = p * kPanelRows, rows = std::min(kPanelRows, n - r0);
      widen(static_cast<const char*>(w.data) + size_t(r0) * row_bytes, w.dtype, size_t(rows * k), panel.data());
      dnnl_sgemm('N', 'T', m, rows, k, 1.f, x.ptr<float>(), k, panel.data(), k, 0.f, out.ptr<float>() + r0, n);
    }
  }
}

void add_bias(const Tensor& bias, Tensor out) {
  const int64_t m = out.dim(0), n = out.dim(1);
  float* op = out.ptr<float>();
  for (int64_t t = 0; t < m; ++t)
    for (int64_t r = 0; r < n; ++r) op[t * n + r] += load_as_f32(bias.data, bias.dtype, size_t(r));
}

}  // namespace

void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) {
  DS_CHECK(x.dtype == DType::kF32 && out.dtype == DType::kF32);
  DS_CHECK_EQ(x.dim(1), w.dim(1));
  DS_CHECK(out.dim(0) == x.dim(0) && out.dim(1) == w.dim(0)) << out.shape_str() << " " << w.shape_str();
  const int64_t m = x.dim(0);
  if (m == 0) return;
  if (m <= kGemvMaxRows) return gemv(x, w, bias, out);
  if (w.dtype == DType::kF32) {
    dnnl_sgemm('N', 'T', m, w.dim(0), x.dim(1), 1.f, x.ptr<float>(), x.dim(1), w.ptr<float>(), w.dim(1), 0.f,
               out.ptr<float>(), w.dim(0));
  } else {
    gemm_panels(x, w, out);
  }
  if (bias.defined()) add_bias(bias, out);
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
