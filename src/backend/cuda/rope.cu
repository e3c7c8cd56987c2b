// Rotary embedding (HF rotate_half: pairs (i, i + D/2)), in place on q and k. One block per token:
// the token's d/2 angles into shared memory, then threads walk the (head, i) pairs of q, then of k. The angle is position * inv_freq[i] in fp32 and
// sincosf is the accurate (not the fast-math) version, as the CPU reference uses std::cos/std::sin.
// CPU reference: CpuOps::rope. llama3 scaling is already folded into inv_freq by the runtime.
// rope_store_kv_kernel fuses the rotation of k with its store into the paged cache (and v's store):
// CPU reference: CpuOps::rope followed by cpu::store_kv (Ops::rope_store_kv's default).
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

// The token's angles (token_angles, device_utils.cuh) are computed once per token and shared by
// every head: per (head, pair), sincosf's slow path made the fused kernel 7 us per call on an H100.

// dst = src rotated (heads x d, pairs (i, i + d/2)) by the angles in sc; dst may be src (in place:
// each pair is read before it is written, by the same thread).
__device__ __forceinline__ void rotate_heads(const bf16* src, bf16* dst, int64_t heads, int64_t d, const float* sc) {
  const int64_t half = d / 2;
  for (int64_t p = threadIdx.x; p < heads * half; p += blockDim.x) {
    const int64_t o = (p / half) * d + p % half, i = p % half;
    float y1, y2;
    rope_pair(__bfloat162float(src[o]), __bfloat162float(src[o + half]), sc[i], sc[half + i], y1, y2);
    dst[o] = __float2bfloat16(y1);
    dst[o + half] = __float2bfloat16(y2);
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

// bf16 x 8 <-> float x 8 of a 16-byte word.
__device__ __forceinline__ void unpack8(const uint4& w, float* f) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&w);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x, f[2 * i + 1] = v.y;
  }
}
__device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 w;
  auto* h = reinterpret_cast<__nv_bfloat162*>(&w);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __halves2bfloat162(__float2bfloat16(f[2 * i]), __float2bfloat16(f[2 * i + 1]));
  return w;
}

// One block per token: q rotated from q_in into q_out (the same rows, or the q columns of a fused
// q|k|v row and a q buffer); k rotated into its cache slot, v copied to its slot. Row t of q_in
// starts at t * q_stride, of k and v at t * kv_stride (in elements); q_out rows are q_heads * d.
// kWords (head_dim % 16 == 0, 16-byte aligned rows and caches): in 16-byte words, a thread taking
// 8 pairs of one q or k head (two words) or one word of v, q, k and v in one index range, so at
// T = 1 every load of the token is issued at once; otherwise (2-byte elements) q, then k, then v,
// several dependent round trips per thread. Same arithmetic per element (rope_pair), so the same
// numbers bit for bit. The angles need only the step's positions (copied in before the forward,
// ahead of every kernel of it) and inv_freq: computed before waiting for the q/k/v matmul.
template <bool kWords>
__global__ void rope_store_kv_kernel(const bf16* q_in, bf16* q_out, const bf16* __restrict__ k,
                                     const bf16* __restrict__ v, int64_t q_stride, int64_t kv_stride, int64_t q_heads,
                                     int64_t k_heads, int64_t d, const int32_t* __restrict__ positions,
                                     const float* __restrict__ inv_freq, bf16* k_cache, bf16* v_cache,
                                     const int32_t* __restrict__ slot_mapping, int64_t num_slots) {
  extern __shared__ float sc[];  // [d/2] sin, then [d/2] cos
  const int64_t t = blockIdx.x, row = k_heads * d;
  token_angles(float(positions[t]), inv_freq, d / 2, sc);
  const int64_t slot = slot_mapping[t];
  const bool store = slot >= 0 && slot < num_slots;  // -1: padding token, nothing to store
  pdl_wait();
  pdl_trigger();
  __syncthreads();
  const bf16* qi = q_in + t * q_stride;
  bf16* qo = q_out + t * q_heads * d;
  const bf16* kt = k + t * kv_stride;
  const bf16* vt = v + t * kv_stride;
  if constexpr (kWords) {
    const int64_t half = d / 2, hw = half / 8;  // hw: words per half head
    const int64_t q_items = q_heads * hw, k_items = store ? k_heads * hw : 0, v_items = store ? row / 8 : 0;
    for (int64_t p = threadIdx.x; p < q_items + k_items + v_items; p += blockDim.x) {
      if (p < q_items + k_items) {
        const bool is_q = p < q_items;
        const int64_t e = is_q ? p : p - q_items, i0 = (e % hw) * 8, o = (e / hw) * d + i0;
        const bf16* src = is_q ? qi : kt;
        bf16* dst = is_q ? qo : k_cache + slot * row;
        float x1[8], x2[8], r1[8], r2[8];
        unpack8(*reinterpret_cast<const uint4*>(src + o), x1);
        unpack8(*reinterpret_cast<const uint4*>(src + o + half), x2);
#pragma unroll
        for (int j = 0; j < 8; ++j) rope_pair(x1[j], x2[j], sc[i0 + j], sc[half + i0 + j], r1[j], r2[j]);
        *reinterpret_cast<uint4*>(dst + o) = pack8(r1);
        *reinterpret_cast<uint4*>(dst + o + half) = pack8(r2);
      } else {
        const int64_t e = (p - q_items - k_items) * 8;
        *reinterpret_cast<uint4*>(v_cache + slot * row + e) = *reinterpret_cast<const uint4*>(vt + e);
      }
    }
  } else {
    rotate_heads(qi, qo, q_heads, d, sc);
    if (!store) return;
    rotate_heads(kt, k_cache + slot * row, k_heads, d, sc);
    bf16* vc = v_cache + slot * row;
    for (int64_t i = threadIdx.x; i < row; i += blockDim.x) vc[i] = vt[i];
  }
}

void launch_rope_store(const bf16* q_in, bf16* q_out, const bf16* k, const bf16* v, int64_t q_stride,
                       int64_t kv_stride, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                       const int32_t* positions, const float* inv_freq, bf16* k_cache, bf16* v_cache,
                       const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream) {
  if (t == 0) return;
  const size_t smem = size_t(head_dim) * sizeof(float);  // d/2 sines + d/2 cosines
  const uintptr_t ptrs = reinterpret_cast<uintptr_t>(q_in) | reinterpret_cast<uintptr_t>(q_out) |
                         reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v) |
                         reinterpret_cast<uintptr_t>(k_cache) | reinterpret_cast<uintptr_t>(v_cache);
  const bool vec = head_dim % 16 == 0 && ptrs % 16 == 0 && q_stride % 8 == 0 && kv_stride % 8 == 0;
  launch_pdl(vec ? rope_store_kv_kernel<true> : rope_store_kv_kernel<false>, dim3(unsigned(t)), dim3(512), smem, stream,
             q_in, q_out, k, v, q_stride, kv_stride, q_heads, k_heads, head_dim, positions, inv_freq, k_cache, v_cache,
             slot_mapping, num_slots);
}

}  // namespace

void launch_rope_store_kv(bf16* q, const bf16* k, const bf16* v, int64_t t, int64_t q_heads, int64_t k_heads,
                          int64_t head_dim, const int32_t* positions, const float* inv_freq, bf16* k_cache,
                          bf16* v_cache, const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream) {
  launch_rope_store(q, q, k, v, q_heads * head_dim, k_heads * head_dim, t, q_heads, k_heads, head_dim, positions,
                    inv_freq, k_cache, v_cache, slot_mapping, num_slots, stream);
}

void launch_qkv_rope_store(const bf16* qkv, bf16* q, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                           const int32_t* positions, const float* inv_freq, bf16* k_cache, bf16* v_cache,
                           const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream) {
  const int64_t qs = q_heads * head_dim, ks = k_heads * head_dim;
  launch_rope_store(qkv, q, qkv + qs, qkv + qs + ks, qs + 2 * ks, qs + 2 * ks, t, q_heads, k_heads, head_dim,
                    positions, inv_freq, k_cache, v_cache, slot_mapping, num_slots, stream);
}

void launch_rope(bf16* q, bf16* k, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                 const int32_t* positions, const float* inv_freq, cudaStream_t stream) {
  if (t == 0) return;
  rope_kernel<<<unsigned(t), 256, size_t(head_dim) * sizeof(float), stream>>>(q, k, q_heads, k_heads, head_dim,
                                                                               positions, inv_freq);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
