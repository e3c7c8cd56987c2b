// Rotary embedding (HF rotate_half: pairs (i, i + D/2)), in place on q and k. One block per token;
// threads walk the (head, i) pairs of q, then of k. The angle is position * inv_freq[i] in fp32 and
// sincosf is the accurate (not the fast-math) version, as the CPU reference uses std::cos/std::sin.
// CPU reference: CpuOps::rope. llama3 scaling is already folded into inv_freq by the runtime.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"

namespace ds::cuda {
namespace {

__device__ __forceinline__ void rotate_pairs(bf16* x, int64_t heads, int64_t d, float pos,
                                             const float* __restrict__ inv_freq) {
  const int64_t half = d / 2;
  for (int64_t p = threadIdx.x; p < heads * half; p += blockDim.x) {
    const int64_t head = p / half, i = p % half;
    float s, c;
    sincosf(pos * inv_freq[i], &s, &c);
    bf16* v = x + head * d;
    const float x1 = __bfloat162float(v[i]), x2 = __bfloat162float(v[i + half]);
    v[i] = __float2bfloat16(x1 * c - x2 * s);
    v[i + half] = __float2bfloat16(x2 * c + x1 * s);
  }
}

// q [t, q_heads * d], k [t, k_heads * d]
__global__ void rope_kernel(bf16* q, bf16* k, int64_t q_heads, int64_t k_heads, int64_t d,
                            const int32_t* __restrict__ positions, const float* __restrict__ inv_freq) {
  const int64_t t = blockIdx.x;
  const float pos = float(positions[t]);
  rotate_pairs(q + t * q_heads * d, q_heads, d, pos, inv_freq);
  rotate_pairs(k + t * k_heads * d, k_heads, d, pos, inv_freq);
}

}  // namespace

void launch_rope(bf16* q, bf16* k, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                 const int32_t* positions, const float* inv_freq, cudaStream_t stream) {
  if (t == 0) return;
  rope_kernel<<<unsigned(t), 256, 0, stream>>>(q, k, q_heads, k_heads, head_dim, positions, inv_freq);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
