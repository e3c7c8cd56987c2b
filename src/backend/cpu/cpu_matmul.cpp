#include "backend/cpu/cpu_matmul.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cpu/cpu_simd.h"

namespace ds::cpu {
namespace {

float dot_scalar(const float* x, const void* w, DType wt, int64_t k) {
  float acc = 0.f;
  for (int64_t i = 0; i < k; ++i) acc += x[i] * load_as_f32(w, wt, size_t(i));
  return acc;
}

// AVX2 + FMA (+ F16C for f16 weights), 8 lanes: a block of kT activation rows x kN weight rows keeps
// one accumulator per pair (kT x kN <= 12 registers, the kN weight vectors in the others, x as the
// FMA's memory operand), so each weight vector is loaded and widened once for kT rows and each x
// vector once for kN rows, and a single row still has kN independent FMA chains. Every (row, weight
// row) sum runs over k's 8-element blocks in order, then across the lanes in a fixed order, then the
// scalar tail: the order depends on k only, never on the block shape, T or the row's place.
__attribute__((target("avx2,fma,f16c"))) inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

constexpr int kAvx2Rows = 4, kAvx2Cols = 3;  // activation rows x weight rows per block
constexpr int64_t kPrefetchAhead = 1024;     // elements

// out[t * ldo + j] = x row t . weight row j for t < kT, j < kN. prefetch: the weight rows come from
// memory (the tile's first pass over them), so each is prefetched kPrefetchAhead elements ahead, once
// per 32 elements; later passes find them in L2. Prefetching changes no result (and a prefetch past
// the matrix's end does not fault).
template <DType kW, int kT, int kN>
__attribute__((target("avx2,fma,f16c"))) void block_avx2(const float* x, int64_t ldx, const char* w, size_t row_bytes,
                                                           int64_t k, bool prefetch, float* out, int64_t ldo) {
  constexpr size_t kEs = kW == DType::kF32 ? 4 : 2;
  __m256 acc[kT][kN];
#pragma GCC unroll 4
  for (int t = 0; t < kT; ++t)
#pragma GCC unroll 4
    for (int j = 0; j < kN; ++j) acc[t][j] = _mm256_setzero_ps();
  const int64_t k8 = k / 8 * 8;
  // The prefetch point, kPrefetchAhead elements past i in the same row, or where it lands in the
  // next block's rows (the weight rows are consecutive: row j + kN follows row j's block) when the
  // rows are shorter than that.
  int64_t ahead_pos = k > 0 ? kPrefetchAhead % k : 0, ahead_row = k > 0 ? kPrefetchAhead / k * kN : 0;
  for (int64_t i = 0; i < k8; i += 8) {
    if (prefetch && i % 32 == 0) {
#pragma GCC unroll 4
      for (int j = 0; j < kN; ++j)
        _mm_prefetch(w + size_t(ahead_row + j) * row_bytes + size_t(ahead_pos) * kEs, _MM_HINT_T0);
      for (ahead_pos += 32; ahead_pos >= k; ahead_pos -= k) ahead_row += kN;
    }
    __m256 wv[kN];
#pragma GCC unroll 4
    for (int j = 0; j < kN; ++j) wv[j] = load8<kW>(w + size_t(j) * row_bytes, i);
#pragma GCC unroll 4
    for (int t = 0; t < kT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * ldx + i);
#pragma GCC unroll 4
      for (int j = 0; j < kN; ++j) acc[t][j] = _mm256_fmadd_ps(xv, wv[j], acc[t][j]);
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int j = 0; j < kN; ++j) {
      float s = sum8(acc[t][j]);
      for (int64_t i = k8; i < k; ++i) s += x[t * ldx + i] * load_as_f32(w + size_t(j) * row_bytes, kW, size_t(i));
      out[t * ldo + j] = s;
    }
  }
}

using BlockFn = void (*)(const float*, int64_t, const char*, size_t, int64_t, bool, float*, int64_t);

template <DType kW, int kT>
BlockFn block_fn(int kn) {
  return kn == 1 ? block_avx2<kW, kT, 1> : kn == 2 ? block_avx2<kW, kT, 2> : block_avx2<kW, kT, 3>;
}
template <DType kW>
BlockFn block_fn(int kt, int kn) {
  switch (kt) {
    case 1: return block_fn<kW, 1>(kn);
    case 2: return block_fn<kW, 2>(kn);
    case 3: return block_fn<kW, 3>(kn);
    default: return block_fn<kW, 4>(kn);
  }
}
BlockFn pick_block(DType wt, int kt, int kn) {
  static_assert(kAvx2Rows == 4 && kAvx2Cols == 3, "pick_block covers 1-4 x 1-3");
  return wt == DType::kF32 ? block_fn<DType::kF32>(kt, kn)
         : wt == DType::kF16 ? block_fn<DType::kF16>(kt, kn)
                             : block_fn<DType::kBF16>(kt, kn);
}

// The AVX2 form of matmul_tile: rows of x in groups of 4, weight rows [r0, r1) in groups of 3.
void tile_avx2(const Tensor& x, const Tensor& w, float* op, int64_t r0, int64_t r1) {
  const int64_t t_rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  const size_t row_bytes = size_t(k) * dtype_size(w.dtype);
  const float* xp = x.ptr<float>();
  const char* wp = static_cast<const char*>(w.data);
  for (int64_t t0 = 0; t0 < t_rows; t0 += kAvx2Rows) {
    const int kt = int(std::min<int64_t>(kAvx2Rows, t_rows - t0));
    for (int64_t r = r0; r < r1; r += kAvx2Cols) {
      const int kn = int(std::min<int64_t>(kAvx2Cols, r1 - r));
      pick_block(w.dtype, kt, kn)(xp + t0 * k, k, wp + size_t(r) * row_bytes, row_bytes, k, /*prefetch=*/t0 == 0,
                                  op + t0 * n + r, n);
    }
  }
}

bool has_avx2() {
  static const bool kHas =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return kHas;
}

constexpr int64_t kTileRows = 32;  // weight rows per tile (32 x 8960 x 2 bytes fits L2)

// All rows of x against weight rows [r0, r1) (32 rows: they stay in L2 while every row of x passes).
void matmul_tile(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, int64_t r0, int64_t r1,
                 MatmulIsa isa) {
  const int64_t t_rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  if (isa == MatmulIsa::kAvx2) {
    float* op = out.ptr<float>();
    tile_avx2(x, w, op, r0, r1);
    if (bias.defined())
      for (int64_t t = 0; t < t_rows; ++t)
        for (int64_t r = r0; r < r1; ++r) op[t * n + r] += load_as_f32(bias.data, bias.dtype, size_t(r));
    return;
  }
  const size_t row_bytes = size_t(k) * dtype_size(w.dtype);
  const float* xp = x.ptr<float>();
  float* op = out.ptr<float>();
  for (int64_t t = 0; t < t_rows; ++t) {
    for (int64_t r = r0; r < r1; ++r) {
      const float b = bias.defined() ? load_as_f32(bias.data, bias.dtype, size_t(r)) : 0.f;
      op[t * n + r] = dot_scalar(xp + t * k, static_cast<const char*>(w.data) + size_t(r) * row_bytes, w.dtype, k) + b;
    }
  }
}

}  // namespace

bool matmul_isa_supported(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::kAvx2: return has_avx2();
    default: return true;
  }
}

MatmulIsa cpu_isa() {
  static const MatmulIsa kIsa = [] {
    const char* env = std::getenv("DS_CPU_ISA");
    if (!env || !*env) return has_avx2() ? MatmulIsa::kAvx2 : MatmulIsa::kScalar;
    const std::string v = env;
    const MatmulIsa isa = v == "scalar" ? MatmulIsa::kScalar
                          : v == "avx2"   ? MatmulIsa::kAvx2
                                          : MatmulIsa::kAuto;
    DS_CHECK(isa != MatmulIsa::kAuto) << "DS_CPU_ISA=" << v << ": expected scalar or avx2";
    DS_CHECK(matmul_isa_supported(isa)) << "DS_CPU_ISA=" << v << ": this CPU lacks it";
    return isa;
  }();
  return kIsa;
}

const char* matmul_isa_name(MatmulIsa isa) {
  switch (isa == MatmulIsa::kAuto ? cpu_isa() : isa) {
    case MatmulIsa::kAvx2: return "avx2";
    default: return "scalar";
  }
}

void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, MatmulIsa isa) {
  DS_CHECK(x.dtype == DType::kF32 && out.dtype == DType::kF32);
  DS_CHECK_EQ(x.dim(1), w.dim(1));
  DS_CHECK(out.dim(0) == x.dim(0) && out.dim(1) == w.dim(0)) << out.shape_str() << " " << w.shape_str();
  DS_CHECK(matmul_isa_supported(isa)) << "this CPU lacks " << matmul_isa_name(isa);
  if (x.dim(0) == 0) return;
  if (isa == MatmulIsa::kAuto) isa = cpu_isa();
  const int64_t n = w.dim(0), tiles = (n + kTileRows - 1) / kTileRows;
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < tiles; ++tile)
    matmul_tile(x, w, bias, out, tile * kTileRows, std::min(n, (tile + 1) * kTileRows), isa);
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
