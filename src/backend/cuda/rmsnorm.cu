// RMSNorm and the fused residual-add + RMSNorm of the pre-norm decoder: one block per row.
// CPU reference: CpuOps::rmsnorm / CpuOps::add_rmsnorm (same multiplication order: (x * r) * w).
// The fused form stores the bf16-rounded residual and normalises that rounded value, so the next
// layer sees exactly what is stored (as vLLM's fused_add_rms_norm does).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"

namespace ds::cuda {
namespace {

constexpr int kThreads = 256;

// x, out [t, h]; residual [t, h] or null (plain rmsnorm); w [h].
template <class W, bool kAdd>
__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(const bf16* __restrict__ x, bf16* residual,
                                                           const W* __restrict__ w, float eps, int64_t h,
                                                           bf16* __restrict__ out) {
  __shared__ float scratch[32];
  const int64_t row = int64_t(blockIdx.x) * h;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
    float v = __bfloat162float(x[row + i]);
    if constexpr (kAdd) {
      const bf16 r = __float2bfloat16(__bfloat162float(residual[row + i]) + v);
      residual[row + i] = r;
      v = __bfloat162float(r);
    }
    ss += v * v;
  }
  const float r = rsqrtf(block_sum(ss, scratch) / float(h) + eps);
  // Each thread re-reads only the elements it wrote itself above, so no barrier is needed.
  const bf16* src = kAdd ? residual : x;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x)
    out[row + i] = __float2bfloat16(__bfloat162float(src[row + i]) * r * to_f32(w[i]));
}

template <bool kAdd>
void launch(const bf16* x, bf16* residual, const void* w, DType w_dtype, float eps, int64_t t, int64_t h,
            bf16* out, cudaStream_t stream) {
  if (t == 0 || h == 0) return;
  const dim3 grid{unsigned(t)}, block{kThreads};
  switch (w_dtype) {
    case DType::kBF16:
      rmsnorm_kernel<bf16, kAdd><<<grid, block, 0, stream>>>(x, residual, static_cast<const bf16*>(w), eps, h, out);
      break;
    case DType::kF16:
      rmsnorm_kernel<__half, kAdd><<<grid, block, 0, stream>>>(x, residual, static_cast<const __half*>(w), eps, h,
                                                               out);
      break;
    case DType::kF32:
      rmsnorm_kernel<float, kAdd><<<grid, block, 0, stream>>>(x, residual, static_cast<const float*>(w), eps, h,
                                                              out);
      break;
    default: DS_CHECK(false) << "rmsnorm weight dtype " << dtype_name(w_dtype);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_rmsnorm(const bf16* x, const void* w, DType w_dtype, float eps, int64_t t, int64_t h, bf16* out,
                    cudaStream_t stream) {
  launch<false>(x, nullptr, w, w_dtype, eps, t, h, out, stream);
}

void launch_add_rmsnorm(const bf16* x, bf16* residual, const void* w, DType w_dtype, float eps, int64_t t,
                        int64_t h, bf16* out, cudaStream_t stream) {
  launch<true>(x, residual, w, w_dtype, eps, t, h, out, stream);
}

}  // namespace ds::cuda
