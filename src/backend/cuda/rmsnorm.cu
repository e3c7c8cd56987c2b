// RMSNorm and the fused residual-add + RMSNorm of the pre-norm decoder: one block per row.
// CPU reference: CpuOps::rmsnorm / CpuOps::add_rmsnorm (same multiplication order: (x * r) * w).
// The residual stream may be float32 (what the decoder uses on CUDA: no rounding of the running sum
// across layers, as the CPU reference) or bf16. The fused form stores the residual in its dtype and
// normalises that stored value, so the next layer sees exactly what is stored (as vLLM's
// fused_add_rms_norm does). The normalised output is bf16 (the matmul operand).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/norm_row.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// 1024 threads for every row count: a decode step's single 3,584-wide row then takes 3-4 elements
// per thread instead of 14 dependent loads (ncu, H100: 11.6 us per call at 256 threads, the largest
// latency-bound item of a 7B decode step). Its summation order is the one for every T: the rows
// kernel below (T > 1) replays it, and the fused norm + matmul row kernels (skinny_matmul.cu) too.
constexpr int kThreads = 1024;

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float v) { return __float2bfloat16(v); }

// x [t, h] (X), residual [t, h] (R, kAdd only), w [h], out [t, h] bf16.
// Thread j owns elements j, j + kThreads, ... (at most kPer: h <= kPer * kThreads, every R1-Distill
// hidden size): their weights are loaded before pdl_wait() (weights depend on no earlier kernel)
// and their values stay in registers between the sum of squares and the scaling.
constexpr int kPer = 8;
template <class W, class X, class R, bool kAdd>
__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(const X* __restrict__ x, R* __restrict__ residual,
                                                           const W* __restrict__ w, float eps, int64_t h,
                                                           bf16* __restrict__ out) {
  __shared__ float scratch[32];
  float wv[kPer], v[kPer];
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t i = threadIdx.x + int64_t(p) * kThreads;
    wv[p] = i < h ? to_f32(w[i]) : 0.f;
  }
  pdl_wait();
  pdl_trigger();  // the next kernel (a decode matmul) may start loading its weights
  const int64_t row = int64_t(blockIdx.x) * h;
  float ss = 0.f;
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t i = threadIdx.x + int64_t(p) * kThreads;
    v[p] = 0.f;
    if (i < h) {
      v[p] = to_f32(x[row + i]);
      if constexpr (kAdd) {
        const R r = from_f32<R>(to_f32(residual[row + i]) + v[p]);
        residual[row + i] = r;
        v[p] = to_f32(r);
      }
    }
    ss += v[p] * v[p];
  }
  const float r = rsqrtf(block_sum(ss, scratch) / float(h) + eps);
#pragma unroll
  for (int p = 0; p < kPer; ++p) {
    const int64_t i = threadIdx.x + int64_t(p) * kThreads;
    if (i < h) out[row + i] = __float2bfloat16(v[p] * r * wv[p]);
  }
}

// T > 1 with fp32 rows and residual (prefill chunks, batched decode): one row per 256-thread block,
// each thread owning 4-element groups g = threadIdx.x + 256 m (16-byte loads and stores of the fp32
// row and residual, 8-byte bf16 stores), so several rows per SM are in flight. (The 1024-thread
// kernel is latency-bound there: 38% of the copy bandwidth at 2,048 rows of 3,584 on an H200,
// bench_cuda_ops.) The sum of squares replays the 1024-thread kernel's order exactly (norm_row.cuh),
// so a row's output does not depend on how many rows share the launch (a seeded request samples the
// same tokens alone and batched; --batch-invariant).
static_assert(4 * kRowThreads == kThreads && kRowGroups == kPer, "the rows kernel replays the 1024-thread order");
template <class W, bool kAdd>
__global__ void __launch_bounds__(kRowThreads) rmsnorm_rows_kernel(const float* __restrict__ x,
                                                                   float* __restrict__ residual,
                                                                   const W* __restrict__ w, float eps, int64_t h,
                                                                   bf16* __restrict__ out) {
  __shared__ float virtual_warp_sums[32];
  const int64_t groups = h / 4, row = int64_t(blockIdx.x) * h;
  pdl_wait();
  pdl_trigger();
  float4 v[kRowGroups];
#pragma unroll
  for (int m = 0; m < kRowGroups; ++m) {
    const int64_t g = threadIdx.x + int64_t(m) * kRowThreads;
    v[m] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (g < groups) {
      v[m] = *reinterpret_cast<const float4*>(x + row + 4 * g);
      if constexpr (kAdd) {
        float4* rp = reinterpret_cast<float4*>(residual + row + 4 * g);
        const float4 r = *rp;
        v[m] = make_float4(r.x + v[m].x, r.y + v[m].y, r.z + v[m].z, r.w + v[m].w);
        *rp = v[m];
      }
    }
  }
  const float r = row_rsqrt(v, h, eps, virtual_warp_sums);
  store_normed_row(v, r, w, groups, out + row);
}

// Whether rmsnorm_rows_kernel takes a launch (fp32 x and residual, 16-byte aligned rows).
bool rows_kernel_fits(int64_t t, int64_t h, const void* x, const void* residual, const void* out) {
  const uintptr_t a16 = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(residual);
  return t > 1 && h % 4 == 0 && h <= 4 * kRowGroups * kRowThreads && a16 % 16 == 0 &&
         reinterpret_cast<uintptr_t>(out) % 8 == 0;
}

template <bool kAdd>
void launch_rows(const float* x, float* residual, const void* w, DType w_dtype, float eps, int64_t t, int64_t h,
                 bf16* out, cudaStream_t stream) {
  const dim3 grid{unsigned(t)}, block{kRowThreads};
  switch (w_dtype) {
    case DType::kBF16:
      launch_pdl(rmsnorm_rows_kernel<bf16, kAdd>, grid, block, 0, stream, x, residual, static_cast<const bf16*>(w), eps, h, out);
      break;
    case DType::kF16:
      launch_pdl(rmsnorm_rows_kernel<__half, kAdd>, grid, block, 0, stream, x, residual, static_cast<const __half*>(w), eps, h,
                 out);
      break;
    case DType::kF32:
      launch_pdl(rmsnorm_rows_kernel<float, kAdd>, grid, block, 0, stream, x, residual, static_cast<const float*>(w), eps, h,
                 out);
      break;
    default: DS_CHECK(false) << "rmsnorm weight dtype " << dtype_name(w_dtype);
  }
}

template <class X, class R, bool kAdd>
void launch_typed(const X* x, R* residual, const void* w, DType w_dtype, float eps, int64_t t, int64_t h, bf16* out,
                  cudaStream_t stream) {
  DS_CHECK_LE(h, int64_t(kPer) * kThreads) << "rmsnorm hidden size";
  const dim3 grid{unsigned(t)}, block{kThreads};
  switch (w_dtype) {
    case DType::kBF16:
      launch_pdl(rmsnorm_kernel<bf16, X, R, kAdd>, grid, block, 0, stream, x, residual, static_cast<const bf16*>(w), eps, h,
                                                                   out);
      break;
    case DType::kF16:
      launch_pdl(rmsnorm_kernel<__half, X, R, kAdd>, grid, block, 0, stream, x, residual, static_cast<const __half*>(w), eps,
                                                                     h, out);
      break;
    case DType::kF32:
      launch_pdl(rmsnorm_kernel<float, X, R, kAdd>, grid, block, 0, stream, x, residual, static_cast<const float*>(w), eps,
                                                                    h, out);
      break;
    default: DS_CHECK(false) << "rmsnorm weight dtype " << dtype_name(w_dtype);
  }
}

}  // namespace

void launch_rmsnorm(const void* x, DType x_dtype, const void* w, DType w_dtype, float eps, int64_t t, int64_t h,
                    bf16* out, cudaStream_t stream) {
  if (t == 0 || h == 0) return;
  if (x_dtype == DType::kF32 && rows_kernel_fits(t, h, x, x, out)) {
    launch_rows<false>(static_cast<const float*>(x), nullptr, w, w_dtype, eps, t, h, out, stream);
  } else if (x_dtype == DType::kF32) {
    launch_typed<float, float, false>(static_cast<const float*>(x), nullptr, w, w_dtype, eps, t, h, out, stream);
  } else {
    DS_CHECK(x_dtype == DType::kBF16) << "rmsnorm input dtype " << dtype_name(x_dtype);
    launch_typed<bf16, bf16, false>(static_cast<const bf16*>(x), nullptr, w, w_dtype, eps, t, h, out, stream);
  }
}

void launch_add_rmsnorm(const void* x, DType x_dtype, void* residual, DType residual_dtype, const void* w,
                        DType w_dtype, float eps, int64_t t, int64_t h, bf16* out, cudaStream_t stream) {
  if (t == 0 || h == 0) return;
  if (x_dtype == DType::kF32 && residual_dtype == DType::kF32 && rows_kernel_fits(t, h, x, residual, out)) {
    launch_rows<true>(static_cast<const float*>(x), static_cast<float*>(residual), w, w_dtype, eps, t, h, out, stream);
    return;
  }
  DS_CHECK(x_dtype == DType::kF32 || x_dtype == DType::kBF16) << "add_rmsnorm x dtype " << dtype_name(x_dtype);
  DS_CHECK(residual_dtype == DType::kF32 || residual_dtype == DType::kBF16)
      << "residual dtype " << dtype_name(residual_dtype);
  const bool xf = x_dtype == DType::kF32, rf = residual_dtype == DType::kF32;
  const auto* xb = static_cast<const bf16*>(x);
  const auto* xs = static_cast<const float*>(x);
  auto* rb = static_cast<bf16*>(residual);
  auto* rs = static_cast<float*>(residual);
  if (xf && rf) launch_typed<float, float, true>(xs, rs, w, w_dtype, eps, t, h, out, stream);
  else if (xf) launch_typed<float, bf16, true>(xs, rb, w, w_dtype, eps, t, h, out, stream);
  else if (rf) launch_typed<bf16, float, true>(xb, rs, w, w_dtype, eps, t, h, out, stream);
  else launch_typed<bf16, bf16, true>(xb, rb, w, w_dtype, eps, t, h, out, stream);
}

}  // namespace ds::cuda
