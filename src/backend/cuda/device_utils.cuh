#pragma once
// Device helpers shared by the kernels: typed loads as fp32, the SwiGLU element, block-wide reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ds::cuda {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

// SwiGLU of one element, fp32: silu(g) * u (silu_mul and the fused gate_up_silu matmul: one formula,
// so the two paths agree bit for bit). CPU reference: CpuOps::silu_mul.
__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.f + expf(-g)) * u; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 floats of shared memory; the function may be called repeatedly with it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

// Largest s with query_start_loc[s] <= t: the sequence that owns query row t (binary search over
// the num_seqs + 1 prefix offsets of a flattened batch).
__device__ __forceinline__ int32_t seq_of_token(const int32_t* qsl, int32_t num_seqs, int64_t t) {
  int32_t lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int32_t mid = (lo + hi + 1) / 2;
    if (qsl[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

}  // namespace ds::cuda
