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

// Rotary embedding, HF rotate_half: the pair (x1, x2) = elements (i, i + d/2) of a head turned by the
// angle whose sine and cosine are s and c. Explicit roundings, so every kernel that rotates (rope,
// rope_store_kv and the q/k/v matmul's rope epilogue) gives the same numbers bit for bit.
__device__ __forceinline__ void rope_pair(float x1, float x2, float s, float c, float& y1, float& y2) {
  y1 = __fmaf_rn(x1, c, -__fmul_rn(x2, s));
  y2 = __fmaf_rn(x2, c, __fmul_rn(x1, s));
}

// sc[i], sc[half + i] = sin, cos of the token's angle pos * inv_freq[i], i < half: once per token
// and block (sincosf of a large argument takes the slow reduction path), by the block's threads;
// the accurate sincosf, as the CPU reference uses std::sin/std::cos. Needs a __syncthreads() after.
__device__ __forceinline__ void token_angles(float pos, const float* __restrict__ inv_freq, int64_t half, float* sc) {
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) sincosf(pos * inv_freq[i], &sc[i], &sc[half + i]);
}

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
