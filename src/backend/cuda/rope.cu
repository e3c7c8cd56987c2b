// Rotary embedding (HF rotate_half: pairs (i, i + D/2)), in place on q and k. One block per token:
// the token's d/2 angles into shared memory, then threads walk the (head, i) pairs of q, then of k. The angle is position * inv_freq[i] in fp32 and
// sincosf is the accurate (not the fast-math) version, as the CPU reference uses std::cos/std::sin.
// CPU reference: CpuOps::rope. llama3 scaling is already folded into inv_freq by the runtime.
// rope_store_kv_kernel fuses the rotation of k with its store into the paged cache (and v's store):
// CPU reference: CpuOps::rope followed by cpu::store_kv (Ops::rope_store_kv's default).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// sc[i], sc[half + i] = sin, cos of the token's angle pos * inv_freq[i], i < d/2: computed once per
// token (sincosf of a large argument takes the slow reduction path; per (head, pair) it made the
// fused kernel 7 us per call on an H100) and shared by every head. Needs a __syncthreads() after.
__device__ __forceinline__ void token_angles(float pos, const float* __restrict__ inv_freq, int64_t half, float* sc) {
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) sincosf(pos * inv_freq[i], &sc[i], &sc[half + i]);
}

// dst = src rotated (heads x d, pairs (i, i + d/2)) by the angles in sc; dst may be src (in place:
// each pair is read before it is written, by the same thread).
__device__ __forceinline__ void rotate_heads(const bf16* src, bf16* dst, int64_t heads, int64_t d, const float* sc) {
  const int64_t half = d / 2;
  for (int64_t p = threadIdx.x; p < heads * half; p += blockDim.x) {
    const int64_t o = (p / half) * d + p % half, i = p % half;
    const float s = sc[i], c = sc[half + i];
    const float x1 = __bfloat162float(src[o]), x2 = __bfloat162float(src[o + half]);
    dst[o] = __float2bfloat16(x1 * c - x2 * s);
    dst[o + half] = __float2bfloat16(x2 * c + x1 * s);
  }
}

// q [t, q_heads * d], k [t, k_heads * d], both in place. One block per token.
__global__ void rope_kernel(bf16* q, bf16* k, int64_t q_heads, int64_t k_heads, int64_t d,
                            const int32_t* __restrict__ positions, const float* __restrict__ inv_freq) {
  extern __shared__ float sc[];  // [d/2] sin, then [d/2] cos
  const int64_t t = blockIdx.x;
  token_angles(float(positions[t]), inv_freq, d / 2, sc);
  __syncthreads();
  rotate_heads(q + t * q_heads * d, q + t * q_heads * d, q_heads, d, sc);
  rotate_heads(k + t * k_heads * d, k + t * k_heads * d, k_heads, d, sc);
}

// One block per token: q rotated in place; k rotated into its cache slot, v copied to its slot.
__global__ void rope_store_kv_kernel(bf16* q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                                     int64_t q_heads, int64_t k_heads, int64_t d,
                                     const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                                     bf16* k_cache, bf16* v_cache, const int32_t* __restrict__ slot_mapping,
                                     int64_t num_slots) {
  extern __shared__ float sc[];  // [d/2] sin, then [d/2] cos
  const int64_t t = blockIdx.x;
  // The angles need only the step's positions (copied in before the forward, ahead of every kernel
  // of it) and inv_freq: computed before waiting for the q/k/v matmul.
  token_angles(float(positions[t]), inv_freq, d / 2, sc);
  pdl_wait();
  pdl_trigger();
  __syncthreads();
  rotate_heads(q + t * q_heads * d, q + t * q_heads * d, q_heads, d, sc);
  const int64_t slot = slot_mapping[t];
  if (slot < 0 || slot >= num_slots) return;  // -1: padding token, nothing to store
  const int64_t row = k_heads * d;
  rotate_heads(k + t * row, k_cache + slot * row, k_heads, d, sc);
  const bf16* vt = v + t * row;
  bf16* vc = v_cache + slot * row;
  for (int64_t i = threadIdx.x; i < row; i += blockDim.x) vc[i] = vt[i];
}

}  // namespace

void launch_rope_store_kv(bf16* q, const bf16* k, const bf16* v, int64_t t, int64_t q_heads, int64_t k_heads,
                          int64_t head_dim, const int32_t* positions, const float* inv_freq, bf16* k_cache,
                          bf16* v_cache, const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream) {
  if (t == 0) return;
  const size_t smem = size_t(head_dim) * sizeof(float);  // d/2 sines + d/2 cosines
  launch_pdl(rope_store_kv_kernel, dim3(unsigned(t)), dim3(512), smem, stream, q, k, v, q_heads, k_heads, head_dim,
             positions, inv_freq, k_cache, v_cache, slot_mapping, num_slots);
}

void launch_rope(bf16* q, bf16* k, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                 const int32_t* positions, const float* inv_freq, cudaStream_t stream) {
  if (t == 0) return;
  rope_kernel<<<unsigned(t), 256, size_t(head_dim) * sizeof(float), stream>>>(q, k, q_heads, k_heads, head_dim,
                                                                               positions, inv_freq);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
