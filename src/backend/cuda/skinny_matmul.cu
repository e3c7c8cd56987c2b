// Skinny matmul for decode: out[T, N] = x[T, K] @ w[N, K]^T (+ bias) for T <= 2 rows, where the
// matmul is a pure stream over the weights and cuBLASLt's tiled kernels leave bandwidth unused on
// the smaller matrices (o_proj, q/k/v: 40-65% of the copy bandwidth on an H200, see
// bench/results/cuda_bench_ops_h200_v2.txt).
// One warp per output column n: its 32 lanes stream w's row n in 16-byte words (U words in flight
// per lane, loads that bypass L1 so that x stays there) and multiply each word with the same 8
// elements of every x row (x is read through the read-only cache: all warps of an SM share it).
// fp32 accumulation; the lanes' partial sums are combined with a butterfly; lane t writes row t.
// Measured on an H200 (bench/results/lead_run1): at T=1 it beats cuBLASLt on every projection of the
// 7B (o_proj 61% vs 39% of the copy bandwidth, q/k/v 67% vs 63%, gate/up 98% vs 91%); at T=4 and 8 it
// loses (x is re-read from L1 once per column), so only T <= 2 comes here.
// Batch-invariant mode (--batch-invariant) runs every matmul through this kernel, one row per grid.y
// index: each output element is then the same sum in the same order whatever T is (it depends on K
// only), which cuBLASLt cannot promise (its kernel choice, tiles and split-K depend on T). Correct
// for any T, but a weight pass per row: slow for prefill.
// Needs K % 8 == 0 and 16-byte aligned x and w (the caller falls back to cuBLASLt otherwise).
// CPU reference: cpu::matmul (tests/gpu/matmul_test.cpp compares both paths against it).
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kUnroll = 4;  // 16-byte weight words in flight per lane

__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  const auto* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const auto* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fa = __bfloat1622float2(a2[i]), fb = __bfloat1622float2(b2[i]);
    s = fmaf(fa.x, fb.x, s);
    s = fmaf(fa.y, fb.y, s);
  }
  return s;
}

template <class T>
__device__ __forceinline__ void store(T* p, float v);
template <>
__device__ __forceinline__ void store<float>(float* p, float v) { *p = v; }
template <>
__device__ __forceinline__ void store<bf16>(bf16* p, float v) { *p = __float2bfloat16(v); }

// x [T, K], w [N, K] (kSwiglu: [2N, K], gate rows then up rows), bias [N] (B = void: none),
// out [T, N].
// The next kUnroll weight words of a lane are loaded while the current ones are multiplied
// (2 x kUnroll in flight), and the first ones before pdl_wait(): the weights depend on no earlier
// kernel, so under programmatic dependent launch they stream in while the kernel that writes x (a
// norm, attention, silu) is still running. (H100, bench/results/cuda_h100_session3.md: 7B decode
// 5.645 vs 5.753 ms, 1.5B 1.947 vs 2.079 ms against the plain loop with every load after the wait.)
// kSwiglu (T = 1, no bias): the warp of column n streams rows n and N + n and writes
// silu(g) * u with g and u rounded to bf16 first: bit for bit what the matmul into a bf16
// [1, 2N] buffer followed by silu_mul gives, without the second kernel.
template <int T, class Out, class B, bool kSwiglu>
__global__ void __launch_bounds__(32 * kWarpsPerBlock) skinny_matmul_kernel(const bf16* __restrict__ x,
                                                                          const bf16* __restrict__ w,
                                                                          const B* __restrict__ bias,
                                                                          Out* __restrict__ out, int64_t n,
                                                                          int64_t k) {
  static_assert(!kSwiglu || (T == 1 && std::is_void_v<B>), "swiglu: one row, no bias");
  constexpr int R = kSwiglu ? 2 : 1;  // weight rows per warp
  const int lane = threadIdx.x & 31;
  const int64_t warp_col = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const bool live = warp_col < n;  // whole warps: the warp_sum below sees no dead lane of a live warp
  const int64_t col = live ? warp_col : n - 1;
  const int64_t words = k / 8;
  const uint4* wr[R];
#pragma unroll
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint4*>(w + (col + r * n) * k);
  constexpr int64_t kStep = 32 * kUnroll;
  auto full = [&](int64_t at) { return at + 32 * (kUnroll - 1) < words; };  // kUnroll words from `at` exist
  uint4 wv[R][kUnroll];
  int64_t i = lane;
  if (live && full(i)) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) wv[r][u] = load_streaming(wr[r] + i + 32 * u);
  }
  pdl_wait();
  pdl_trigger();
  if (!live) return;
  x += int64_t(blockIdx.y) * T * k;  // row groups of the batch-invariant launch (grid.y > 1)
  out += int64_t(blockIdx.y) * T * n;
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  float acc[R][T];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t) acc[r][t] = 0.f;
  for (; full(i); i += kStep) {
    uint4 nx[R][kUnroll];
    const bool more = full(i + kStep);
    if (more) {
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) nx[r][u] = load_streaming(wr[r] + i + kStep + 32 * u);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const uint4 xv = __ldg(xr + t * words + i + 32 * u);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r][t] += dot8(wv[r][u], xv);
      }
    }
    if (more) {
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) wv[r][u] = nx[r][u];
    }
  }
  for (; i < words; i += 32) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const uint4 xv = __ldg(xr + t * words + i);
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r][t] += dot8(load_streaming(wr[r] + i), xv);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t) acc[r][t] = warp_sum(acc[r][t]);
  if constexpr (kSwiglu) {
    if (lane == 0) {
      const float g = __bfloat162float(__float2bfloat16(acc[0][0])), u = __bfloat162float(__float2bfloat16(acc[1][0]));
      store(out + col, silu_times(g, u));
    }
  } else {
    float b = 0.f;
    if constexpr (!std::is_void_v<B>) b = to_f32(bias[col]);
#pragma unroll
    for (int t = 0; t < T; ++t)
      if (lane == t) store(out + t * n + col, acc[0][t] + b);
  }
}

template <int T, class Out>
void launch_t(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, Out* out, int64_t n, int64_t k,
              cudaStream_t stream, int64_t row_groups = 1) {
  DS_CHECK(row_groups >= 1 && row_groups < 65536) << "rows " << row_groups;
  const dim3 grid{unsigned((n + kWarpsPerBlock - 1) / kWarpsPerBlock), unsigned(row_groups)};
  const dim3 block{32 * kWarpsPerBlock};
  if (!bias) {
    launch_pdl(skinny_matmul_kernel<T, Out, void, false>, grid, block, 0, stream, x, w, nullptr, out, n, k);
  } else if (bias_dtype == DType::kBF16) {
    launch_pdl(skinny_matmul_kernel<T, Out, bf16, false>, grid, block, 0, stream, x, w, static_cast<const bf16*>(bias),
               out, n, k);
  } else {
    DS_CHECK(bias_dtype == DType::kF32) << "skinny matmul bias dtype " << dtype_name(bias_dtype);
    launch_pdl(skinny_matmul_kernel<T, Out, float, false>, grid, block, 0, stream, x, w,
               static_cast<const float*>(bias), out, n, k);
  }
}

template <class Out>
void launch_out(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, Out* out, int64_t t, int64_t n,
                int64_t k, cudaStream_t stream) {
  switch (t) {
    case 1: return launch_t<1>(x, w, bias, bias_dtype, out, n, k, stream);
    case 2: return launch_t<2>(x, w, bias, bias_dtype, out, n, k, stream);
    default: DS_CHECK(false) << "skinny matmul rows " << t;
  }
}

}  // namespace

void launch_invariant_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                             DType out_dtype, int64_t t, int64_t n, int64_t k, cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(k > 0 && k % 8 == 0 && ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16) == 0)
      << "batch-invariant matmul needs K % 8 == 0 and 16-byte aligned operands (K " << k << ")";
  if (out_dtype == DType::kF32) {
    launch_t<1>(x, w, bias, bias_dtype, static_cast<float*>(out), n, k, stream, t);
  } else {
    DS_CHECK(out_dtype == DType::kBF16) << "matmul out dtype " << dtype_name(out_dtype);
    launch_t<1>(x, w, bias, bias_dtype, static_cast<bf16*>(out), n, k, stream, t);
  }
}

bool skinny_matmul_supports(int64_t t, int64_t k, const void* x, const void* w) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w);
  return t >= 1 && t <= kSkinnyMatmulMaxRows && k > 0 && k % 8 == 0 && a % 16 == 0;
}

void launch_skinny_swiglu(const bf16* x, const bf16* w_gate_up, int64_t n, int64_t k, bf16* out,
                          cudaStream_t stream) {
  if (n == 0) return;
  DS_CHECK(skinny_matmul_supports(1, k, x, w_gate_up)) << "k " << k;
  const dim3 grid{unsigned((n + kWarpsPerBlock - 1) / kWarpsPerBlock)}, block{32 * kWarpsPerBlock};
  launch_pdl(skinny_matmul_kernel<1, bf16, void, true>, grid, block, 0, stream, x, w_gate_up, nullptr, out, n, k);
}

void launch_skinny_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                          DType out_dtype, int64_t t, int64_t n, int64_t k, cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(skinny_matmul_supports(t, k, x, w)) << "t " << t << " k " << k;
  if (out_dtype == DType::kF32) {
    launch_out(x, w, bias, bias_dtype, static_cast<float*>(out), t, n, k, stream);
  } else {
    DS_CHECK(out_dtype == DType::kBF16) << "skinny matmul out dtype " << dtype_name(out_dtype);
    launch_out(x, w, bias, bias_dtype, static_cast<bf16*>(out), t, n, k, stream);
  }
}

}  // namespace ds::cuda
