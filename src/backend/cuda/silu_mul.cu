// SwiGLU activation: out = silu(gate) * up, elementwise (grid-stride loop).
// CPU reference: CpuOps::silu_mul (g / (1 + exp(-g)) * u in fp32).
#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// gate, up, out [n]; out may alias gate or up (each element is read before it is written).
__global__ void silu_mul_kernel(const bf16* gate, const bf16* up, bf16* out, int64_t n) {
  pdl_wait();
  pdl_trigger();
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float g = __bfloat162float(gate[i]);
    out[i] = __float2bfloat16(g / (1.f + expf(-g)) * __bfloat162float(up[i]));
  }
}

}  // namespace

void launch_silu_mul(const bf16* gate, const bf16* up, bf16* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>((n + 255) / 256, 132 * 16);
  launch_pdl(silu_mul_kernel, dim3(unsigned(blocks)), dim3(256), 0, stream, gate, up, out, n);
}

}  // namespace ds::cuda
