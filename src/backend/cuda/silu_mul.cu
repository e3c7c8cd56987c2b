// SwiGLU activation: out = silu(gate) * up, elementwise, 8 bf16 per 16-byte access when the three
// pointers allow it (a prefill's [T, I] rows: a memory-bound pass), else one element at a time.
// Both forms compute each element the same way. The same kernels take the gate and up halves of a
// fused [T, 2I] gate/up product (launch_silu_mul_halves).
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
// Vector form (len % 8 == 0, stride % 8 == 0, 16-byte aligned pointers): a block takes kWords x 256
// 16-byte words of a row (grid x: the row's chunks, grid y: rows, looping past 65,535), its loads all
// issued before any result is computed, and no 64-bit division per word (the earlier flat
// grid-stride loop divided a 64-bit index by the row length for every word: integer work next to a
// memory-bound pass, which cost time when a long run's power limit lowers the SM clock).
constexpr int kThreads = 256, kWords = 2;

__global__ void silu_mul_vec_kernel(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int32_t words,
                                    int64_t stride_words) {
  pdl_wait();
  pdl_trigger();
  const int32_t c0 = int32_t(blockIdx.x) * kThreads * kWords + int32_t(threadIdx.x);
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const uint4* g4 = reinterpret_cast<const uint4*>(gate) + r * stride_words;
    const uint4* u4 = reinterpret_cast<const uint4*>(up) + r * stride_words;
    uint4* o4 = reinterpret_cast<uint4*>(out) + r * words;
    uint4 gv[kWords], uv[kWords];
#pragma unroll
    for (int k = 0; k < kWords; ++k) {
      const int32_t c = c0 + k * kThreads;
      if (c < words) gv[k] = g4[c], uv[k] = u4[c];
    }
#pragma unroll
    for (int k = 0; k < kWords; ++k) {
      const int32_t c = c0 + k * kThreads;
      if (c >= words) continue;
      const auto* g2 = reinterpret_cast<const __nv_bfloat162*>(&gv[k]);
      const auto* u2 = reinterpret_cast<const __nv_bfloat162*>(&uv[k]);
      uint4 ov;
      auto* o2 = reinterpret_cast<__nv_bfloat162*>(&ov);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 g = __bfloat1622float2(g2[j]), u = __bfloat1622float2(u2[j]);
        o2[j] = __floats2bfloat162_rn(silu_times(g.x, u.x), silu_times(g.y, u.y));
      }
      o4[c] = ov;
    }
  }
}

// Any length, stride or alignment: one element per thread, grid-stride (computed as the vector form).
__global__ void silu_mul_scalar_kernel(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len,
                                       int64_t stride) {
  pdl_wait();
  pdl_trigger();
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * len; i += step) {
    const int64_t at = i / len * stride + i % len;
    out[i] = __float2bfloat16(silu_times(__bfloat162float(gate[at]), __bfloat162float(up[at])));
  }
}

void launch(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len, int64_t stride,
            cudaStream_t stream) {
  if (rows == 0 || len == 0) return;
  const bool vec = len % 8 == 0 && stride % 8 == 0 && len / 8 <= INT32_MAX &&
                   ((reinterpret_cast<uintptr_t>(gate) | reinterpret_cast<uintptr_t>(up) | reinterpret_cast<uintptr_t>(out)) %
                    16) == 0;
  if (vec) {
    const int64_t words = len / 8, chunks = (words + kThreads * kWords - 1) / (kThreads * kWords);
    const dim3 grid(unsigned(chunks), unsigned(std::min<int64_t>(rows, 65535)));
    launch_pdl(silu_mul_vec_kernel, grid, dim3(kThreads), 0, stream, gate, up, out, rows, int32_t(words), stride / 8);
  } else {
    const int64_t blocks = std::min<int64_t>((rows * len + kThreads - 1) / kThreads, 132 * 16);
    launch_pdl(silu_mul_scalar_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, stream, gate, up, out, rows, len,
               stride);
  }
}

}  // namespace

void launch_silu_mul(const bf16* gate, const bf16* up, bf16* out, int64_t n, cudaStream_t stream) {
  launch(gate, up, out, 1, n, n, stream);
}

void launch_silu_mul_halves(const bf16* gate_up, bf16* out, int64_t rows, int64_t i, cudaStream_t stream) {
  launch(gate_up, gate_up + i, out, rows, i, 2 * i, stream);
}

}  // namespace ds::cuda
