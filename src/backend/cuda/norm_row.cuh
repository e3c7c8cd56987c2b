// One fp32 row's RMSNorm by a block of 256 threads, in rmsnorm.cu's 1024-thread summation order
// (the order of every norm of the forward, so a row's output does not depend on which kernel
// normalized it): rmsnorm_rows_kernel (T > 1), and inside the skinny decode matmuls
// (skinny_matmul.cu): the last block of a decode row's o_proj / down_proj (norm_if_last,
// matmul_add_rmsnorm).
// Thread i owns 4-element groups g = i + 256 m (m < kRowGroups: h <= 8192). Element 4g + c belongs
// to the 1024-thread kernel's thread 4i + c, whose running sum this thread keeps as s[c]; that
// kernel's 32-lane warps are lanes of 8 threads here (real xor offsets 4, 2, 1 = virtual 16, 8, 4;
// virtual 2 and 1 combine s[c] within the thread), and the 32 virtual-warp sums are combined by one
// warp_sum as in block_sum.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/device_utils.cuh"

namespace ds::cuda {

constexpr int kRowThreads = 256, kRowGroups = 8;  // h <= 8 x 4 x 256 = 8192

// r = rsqrt(mean(v^2) + eps) of the row whose groups this thread holds (zeros past the row).
// virtual_warp_sums: 32 floats of shared memory. Called by all kRowThreads threads.
__device__ __forceinline__ float row_rsqrt(const float4 (&v)[kRowGroups], int64_t h, float eps,
                                           float* virtual_warp_sums) {
  float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int m = 0; m < kRowGroups; ++m) {
    s[0] += v[m].x * v[m].x;
    s[1] += v[m].y * v[m].y;
    s[2] += v[m].z * v[m].z;
    s[3] += v[m].w * v[m].w;
  }
#pragma unroll
  for (int o = 4; o > 0; o >>= 1)
#pragma unroll
    for (int c = 0; c < 4; ++c) s[c] += __shfl_xor_sync(0xffffffffu, s[c], o);
  const float vs = (s[0] + s[2]) + (s[1] + s[3]);  // virtual xor 2 (c, c ^ 2), then xor 1
  if ((threadIdx.x & 7) == 0) virtual_warp_sums[threadIdx.x >> 3] = vs;
  __syncthreads();
  return rsqrtf(warp_sum(virtual_warp_sums[threadIdx.x & 31]) / float(h) + eps);
}

// out[4g + c] = bf16(v * r * w) for this thread's groups inside the row (groups = h / 4).
template <class W>
__device__ __forceinline__ void store_normed_row(const float4 (&v)[kRowGroups], float r, const W* __restrict__ w,
                                                 int64_t groups, bf16* __restrict__ out) {
#pragma unroll
  for (int m = 0; m < kRowGroups; ++m) {
    const int64_t g = threadIdx.x + int64_t(m) * kRowThreads;
    if (g >= groups) continue;
    const W* wg = w + 4 * g;
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v[m].x * r * to_f32(wg[0]), v[m].y * r * to_f32(wg[1]));
    const __nv_bfloat162 hi = __floats2bfloat162_rn(v[m].z * r * to_f32(wg[2]), v[m].w * r * to_f32(wg[3]));
    uint2 packed;
    packed.x = *reinterpret_cast<const uint32_t*>(&lo);
    packed.y = *reinterpret_cast<const uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(out + 4 * g) = packed;
  }
}

// The skinny matmul's kAddNorm epilogue (skinny_matmul.cu): the norm weights, eps, the bf16 output row,
// and a counter that is zero before the launch
// (blocks count themselves in; the last one resets it).
struct NormTail {
  const bf16* w = nullptr;
  float eps = 0.f;
  bf16* out = nullptr;
  int32_t* counter = nullptr;
};

// kAddNorm's end, called by every thread of every block after its columns are added: the block
// counts itself in, and the block that finds itself last reads the whole residual row (h = N
// elements; the other blocks' sums come from other SMs: fenced before the count, read past L1
// after it) and writes rmsnorm(row) * w with rmsnorm.cu's numbers, bit for bit (norm_row.cuh). The
// decode row's norm kernel between o_proj/down_proj and the next projection is then not launched.
__device__ __forceinline__ void norm_if_last(const NormTail& nt, const float* residual, int64_t h) {
  __shared__ bool s_last;
  __shared__ float virtual_warp_sums[32];
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    s_last = atomicAdd(nt.counter, 1) == int32_t(gridDim.x) - 1;
    if (s_last) *nt.counter = 0;  // every block of this launch has counted
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  const int64_t groups = h / 4;
  float4 v[kRowGroups];
#pragma unroll
  for (int m = 0; m < kRowGroups; ++m) {
    const int64_t g = threadIdx.x + int64_t(m) * kRowThreads;
    v[m] = g < groups ? __ldcg(reinterpret_cast<const float4*>(residual) + g) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  const float r = row_rsqrt(v, h, nt.eps, virtual_warp_sums);
  store_normed_row(v, r, nt.w, groups, nt.out);
}

// The norm weights of a kAddNorm launch into the L2 (block 0, before pdl_wait(): they depend on no
// earlier kernel), kept there while the projection's weights stream past, so that the last block
// does not wait for them in device memory.
__device__ __forceinline__ void prefetch_norm_weights(const NormTail& nt, int64_t h) {
  constexpr int64_t kLine = 64;  // bf16 per 128-byte line
  if (blockIdx.x == 0)
    for (int64_t i = threadIdx.x * kLine; i < h; i += kRowThreads * kLine)
      asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(nt.w + i));
}

}  // namespace ds::cuda
