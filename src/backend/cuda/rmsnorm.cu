// RMSNorm and the fused residual-add + RMSNorm of the pre-norm decoder: one block per row.
// CPU reference: CpuOps::rmsnorm / CpuOps::add_rmsnorm (same multiplication order: (x * r) * w).
// The residual stream may be float32 (what the decoder uses on CUDA: no rounding of the running sum
// across layers, as the CPU reference) or bf16. The fused form stores the residual in its dtype and
// normalises that stored value, so the next layer sees exactly what is stored (as vLLM's
// fused_add_rms_norm does). The normalised output is bf16 (the matmul operand).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// 1024 threads for every row count: a decode step's single 3,584-wide row then takes 3-4 elements
// per thread instead of 14 dependent loads (ncu, H100: 11.6 us per call at 256 threads, the largest
// latency-bound item of a 7B decode step), and the summation order stays the same for any T
// (--batch-invariant).
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
  if (x_dtype == DType::kF32) {
    launch_typed<float, float, false>(static_cast<const float*>(x), nullptr, w, w_dtype, eps, t, h, out, stream);
  } else {
    DS_CHECK(x_dtype == DType::kBF16) << "rmsnorm input dtype " << dtype_name(x_dtype);
    launch_typed<bf16, bf16, false>(static_cast<const bf16*>(x), nullptr, w, w_dtype, eps, t, h, out, stream);
  }
}

void launch_add_rmsnorm(const void* x, DType x_dtype, void* residual, DType residual_dtype, const void* w,
                        DType w_dtype, float eps, int64_t t, int64_t h, bf16* out, cudaStream_t stream) {
  if (t == 0 || h == 0) return;
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
