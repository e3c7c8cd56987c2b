#pragma once
// 16-byte cp.async copies from global into shared memory (L2 only: .cg), in commit groups, and the
// shared-memory address form that cp.async and ldmatrix take. Used by the tensor-core attention
// kernels (paged_attention_tc.cu) and their split merge (split_merge.cuh).
#include <cstdint>

namespace ds::cuda {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace ds::cuda
