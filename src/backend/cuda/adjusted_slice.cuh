#pragma once
// A row slice's adjusted tokens (logit_bias, min_tokens, penalties) for the sampler's per-slice
// passes (sampling.cu, candidate_draw.cu): the slice's tokens in the row's sorted adjustment list
// are flagged in a shared-memory bitmap, and a flagged token's entry is found by binary search.
#include <cstdint>

#include "backend/sampling.h"

namespace ds::cuda {

// 32-bit words of the bitmap for a slice of `len` tokens.
__host__ __device__ inline int64_t adjusted_bitmap_words(int64_t len) { return len / 32 + 1; }

struct AdjustedSlice {
  const LogitAdjustment* a;  // the row's adjustments, sorted by token
  int n;
  int64_t lo;      // first token of the slice
  uint32_t* bits;  // shared memory, adjusted_bitmap_words(len)

  // Fills the bitmap of [lo, lo + len); every thread of the block calls it (two barriers).
  __device__ void mark(int64_t len) {
    if (n == 0) return;
    for (int64_t w = threadIdx.x; w < adjusted_bitmap_words(len); w += blockDim.x) bits[w] = 0;
    __syncthreads();
    for (int k = threadIdx.x; k < n; k += blockDim.x) {
      const int64_t t = a[k].token;
      if (t >= lo && t < lo + len) atomicOr(&bits[(t - lo) >> 5], 1u << ((t - lo) & 31));
    }
    __syncthreads();
  }
  // The processed logit of token i of the slice whose raw logit is raw.
  __device__ __forceinline__ float logit(float raw, int64_t i, const SampleRow& r) const {
    if (n == 0 || !((bits[(i - lo) >> 5] >> ((i - lo) & 31)) & 1u)) return raw;
    int b = 0, e = n;
    while (b < e) {
      const int mid = (b + e) >> 1;
      if (a[mid].token < i) b = mid + 1;
      else e = mid;
    }
    return adjusted_logit(raw, a[b], r);
  }
};

}  // namespace ds::cuda
