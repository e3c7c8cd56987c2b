#pragma once
// Paged causal attention on the CPU (float32): the reference the CUDA kernels are tested against.
#include "backend/ops.h"

namespace ds::cpu {

// q [T, Hq*D]; caches [num_blocks, block_size, Hk, D]; out [T, Hq*D].
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const AttentionBatch& batch, float scale, Tensor out);

void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
              const int32_t* slot_mapping);

}  // namespace ds::cpu
