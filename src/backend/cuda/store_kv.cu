// Writes the new tokens' K and V rows into the paged caches at their slots (vLLM's
// reshape_and_cache). One block per token; 16-byte copies when the row allows, else 2-byte.
// CPU reference: cpu::store_kv.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"

namespace ds::cuda {
namespace {

// Rows of `row_words` words of type Word. k, v [t, row]; caches [num_slots, row].
template <class Word>
__global__ void store_kv_kernel(const Word* __restrict__ k, const Word* __restrict__ v, Word* k_cache,
                                Word* v_cache, int64_t row_words, const int32_t* __restrict__ slot_mapping,
                                int64_t num_slots) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slot_mapping[t];
  if (slot < 0 || slot >= num_slots) return;  // -1: padding token, nothing to store
  for (int64_t i = threadIdx.x; i < row_words; i += blockDim.x) {
    k_cache[slot * row_words + i] = k[t * row_words + i];
    v_cache[slot * row_words + i] = v[t * row_words + i];
  }
}

}  // namespace

void launch_store_kv(const bf16* k, const bf16* v, bf16* k_cache, bf16* v_cache, int64_t t, int64_t row,
                     const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream) {
  if (t == 0 || row == 0) return;
  const bool wide = (row * sizeof(bf16)) % 16 == 0 &&
                    ((reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v) |
                      reinterpret_cast<uintptr_t>(k_cache) | reinterpret_cast<uintptr_t>(v_cache)) % 16) == 0;
  if (wide) {
    const int64_t words = row * int64_t(sizeof(bf16)) / 16;
    store_kv_kernel<uint4><<<unsigned(t), 128, 0, stream>>>(
        reinterpret_cast<const uint4*>(k), reinterpret_cast<const uint4*>(v), reinterpret_cast<uint4*>(k_cache),
        reinterpret_cast<uint4*>(v_cache), words, slot_mapping, num_slots);
  } else {
    store_kv_kernel<bf16><<<unsigned(t), 128, 0, stream>>>(k, v, k_cache, v_cache, row, slot_mapping, num_slots);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
