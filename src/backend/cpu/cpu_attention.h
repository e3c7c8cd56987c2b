#pragma once
// Paged causal attention on the CPU (float32 arithmetic): the reference the CUDA kernels are tested
// against. The KV cache holds float32, bfloat16 or float16 (--kv-cache-dtype), widened as it is read.
#include "backend/ops.h"

namespace ds::cpu {

inline bool is_kv_cache_dtype(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

// q [T, Hq*D]; caches [num_blocks, block_size, Hk, D]; out [T, Hq*D]. With AVX2 + FMA: each (token,
// KV head) reads its K and V rows once for the whole GQA group of query heads, 8-lane dot products
// and updates; otherwise the reference below. Every (token, head) is computed alone, in an order
// that depends only on its own context, so a row's output never depends on the batch.
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const AttentionBatch& batch, float scale, Tensor out);

// The scalar form, one (token, query head) at a time: what the fast form is tested against.
void paged_attention_reference(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const AttentionBatch& batch, float scale, Tensor out);

// k, v [T, Hk*D] float32 into the caches' slots (slot < 0: skipped), rounded to the cache's dtype.
void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
              const int32_t* slot_mapping);

}  // namespace ds::cpu
