// SwiGLU activation: out = silu(gate) * up, elementwise (grid-stride loop), 8 bf16 per 16-byte
// access when the three pointers allow it (a prefill's [T, I] rows: a memory-bound pass), else one
// element at a time. Both forms compute each element the same way. The same kernel takes the gate
// and up halves of a fused [T, 2I] gate/up product (launch_silu_mul_halves).
// CPU reference: CpuOps::silu_mul (g / (1 + exp(-g)) * u in fp32).
#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// out [rows, len] = silu(gate) * up, where gate and up rows are `stride` elements apart (silu_mul:
// one row, stride = len; the halves of a fused gate/up product: stride = 2 len, up = gate + len);
// out may alias gate or up when stride == len (each element is read before it is written).
// kVec: len % 8 == 0, stride % 8 == 0 and 16-byte aligned pointers; i counts 8-element words.
template <bool kVec>
__global__ void silu_mul_kernel(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len,
                                int64_t stride) {
  pdl_wait();
  pdl_trigger();
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  if constexpr (kVec) {
    const int64_t words = len / 8, stride_words = stride / 8;
    const uint4* g4 = reinterpret_cast<const uint4*>(gate);
    const uint4* u4 = reinterpret_cast<const uint4*>(up);
    uint4* o4 = reinterpret_cast<uint4*>(out);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * words; i += step) {
      const int64_t at = i / words * stride_words + i % words;
      const uint4 gv = g4[at], uv = u4[at];
      const auto* g2 = reinterpret_cast<const __nv_bfloat162*>(&gv);
      const auto* u2 = reinterpret_cast<const __nv_bfloat162*>(&uv);
      uint4 ov;
      auto* o2 = reinterpret_cast<__nv_bfloat162*>(&ov);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 g = __bfloat1622float2(g2[j]), u = __bfloat1622float2(u2[j]);
        o2[j] = __floats2bfloat162_rn(silu_times(g.x, u.x), silu_times(g.y, u.y));
      }
      o4[i] = ov;
    }
  } else {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * len; i += step) {
      const int64_t at = i / len * stride + i % len;
      out[i] = __float2bfloat16(silu_times(__bfloat162float(gate[at]), __bfloat162float(up[at])));
    }
  }
}

void launch(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len, int64_t stride,
            cudaStream_t stream) {
  if (rows == 0 || len == 0) return;
  const bool vec = len % 8 == 0 && stride % 8 == 0 &&
                   ((reinterpret_cast<uintptr_t>(gate) | reinterpret_cast<uintptr_t>(up) | reinterpret_cast<uintptr_t>(out)) %
                    16) == 0;
  const int64_t items = vec ? rows * len / 8 : rows * len;
  const int64_t blocks = std::min<int64_t>((items + 255) / 256, 132 * 16);
  if (vec) launch_pdl(silu_mul_kernel<true>, dim3(unsigned(blocks)), dim3(256), 0, stream, gate, up, out, rows, len, stride);
  else launch_pdl(silu_mul_kernel<false>, dim3(unsigned(blocks)), dim3(256), 0, stream, gate, up, out, rows, len, stride);
}

}  // namespace

void launch_silu_mul(const bf16* gate, const bf16* up, bf16* out, int64_t n, cudaStream_t stream) {
  launch(gate, up, out, 1, n, n, stream);
}

void launch_silu_mul_halves(const bf16* gate_up, bf16* out, int64_t rows, int64_t i, cudaStream_t stream) {
  launch(gate_up, gate_up + i, out, rows, i, 2 * i, stream);
}

}  // namespace ds::cuda
