// SwiGLU activation: out = silu(gate) * up, elementwise, 8 bf16 per 16-byte access (four per
// thread, loaded together) when the three pointers allow it (a prefill's [T, I] rows: a
// memory-bound pass), else one element at a time (grid-stride loop). Both forms compute each element the same way. The same kernel takes the gate
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

constexpr int kThreads = 256;
constexpr int kWordsPerThread = 4;  // 16-byte words a thread loads before it computes (vector form)

// out [rows, len] = silu(gate) * up, where gate and up rows are `stride` elements apart (silu_mul:
// one row, stride = len; the halves of a fused gate/up product: stride = 2 len, up = gate + len);
// out may alias gate or up when stride == len (each element is read before it is written).
// kVec: len % 8 == 0, stride % 8 == 0 and 16-byte aligned pointers; i counts 8-element words, a
// block covers kThreads * kWordsPerThread consecutive words of out (rows after rows), and each
// thread issues the loads of its kWordsPerThread words together (one word at a time left the pass
// at ~39% of the copy bandwidth: one round trip per 32 bytes). Index is uint32_t when the
// element count allows (a 64-bit division per word costs more than the load).
template <bool kVec, typename Index>
__global__ void __launch_bounds__(kThreads) silu_mul_kernel(const bf16* gate, const bf16* up, bf16* out, Index rows,
                                                            Index len, Index stride) {
  pdl_wait();
  pdl_trigger();
  if constexpr (kVec) {
    const Index words = len / 8, stride_words = stride / 8, total = rows * words;
    const uint4* g4 = reinterpret_cast<const uint4*>(gate);
    const uint4* u4 = reinterpret_cast<const uint4*>(up);
    uint4* o4 = reinterpret_cast<uint4*>(out);
    const Index first = Index(blockIdx.x) * (kThreads * kWordsPerThread) + threadIdx.x;
    uint4 gv[kWordsPerThread], uv[kWordsPerThread];
#pragma unroll
    for (int k = 0; k < kWordsPerThread; ++k) {
      const Index i = first + Index(k) * kThreads;
      if (i < total) {
        const Index at = i / words * stride_words + i % words;
        gv[k] = g4[at];
        uv[k] = u4[at];
      }
    }
#pragma unroll
    for (int k = 0; k < kWordsPerThread; ++k) {
      const Index i = first + Index(k) * kThreads;
      if (i >= total) break;
      const auto* g2 = reinterpret_cast<const __nv_bfloat162*>(&gv[k]);
      const auto* u2 = reinterpret_cast<const __nv_bfloat162*>(&uv[k]);
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
    const Index step = Index(gridDim.x) * blockDim.x;
    for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * len; i += step) {
      const Index at = i / len * stride + i % len;
      out[i] = __float2bfloat16(silu_times(__bfloat162float(gate[at]), __bfloat162float(up[at])));
    }
  }
}

template <typename Index>
void launch_as(bool vec, const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len, int64_t stride,
               cudaStream_t stream) {
  if (vec) {
    const int64_t per_block = int64_t(kThreads) * kWordsPerThread;
    const int64_t blocks = (rows * len / 8 + per_block - 1) / per_block;
    DS_CHECK_LT(blocks, int64_t(1) << 31);
    launch_pdl(silu_mul_kernel<true, Index>, dim3(unsigned(blocks)), dim3(kThreads), 0, stream, gate, up, out,
               Index(rows), Index(len), Index(stride));
  } else {
    const int64_t blocks = std::min<int64_t>((rows * len + kThreads - 1) / kThreads, 132 * 16);
    launch_pdl(silu_mul_kernel<false, Index>, dim3(unsigned(blocks)), dim3(kThreads), 0, stream, gate, up, out,
               Index(rows), Index(len), Index(stride));
  }
}

void launch(const bf16* gate, const bf16* up, bf16* out, int64_t rows, int64_t len, int64_t stride,
            cudaStream_t stream) {
  if (rows == 0 || len == 0) return;
  const bool vec = len % 8 == 0 && stride % 8 == 0 &&
                   ((reinterpret_cast<uintptr_t>(gate) | reinterpret_cast<uintptr_t>(up) | reinterpret_cast<uintptr_t>(out)) %
                    16) == 0;
  // 32-bit indices while every element offset (gate/up reach rows * stride) and the grid-stride
  // sums stay below 2^31.
  if ((rows + 1) * std::max(len, stride) < (int64_t(1) << 31)) launch_as<uint32_t>(vec, gate, up, out, rows, len, stride, stream);
  else launch_as<int64_t>(vec, gate, up, out, rows, len, stride, stream);
}

}  // namespace

void launch_silu_mul(const bf16* gate, const bf16* up, bf16* out, int64_t n, cudaStream_t stream) {
  launch(gate, up, out, 1, n, n, stream);
}

void launch_silu_mul_halves(const bf16* gate_up, bf16* out, int64_t rows, int64_t i, cudaStream_t stream) {
  launch(gate_up, gate_up + i, out, rows, i, 2 * i, stream);
}

}  // namespace ds::cuda
