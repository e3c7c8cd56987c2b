#include "runtime/kv_cache.h"

namespace ds {

KvCache::KvCache(Backend& backend, const ModelConfig& cfg, int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  const DType dt = backend.activation_dtype();
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    for (auto* views : {&k_views_, &v_views_}) {
      Tensor t(static_cast<void*>(nullptr), dt, {num_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim});
      buffers_.push_back(backend.alloc(t.nbytes()));
      t.data = buffers_.back()->data();
      views->push_back(t);
    }
  }
}

size_t KvCache::bytes_per_token(const ModelConfig& cfg, DType dtype) {
  return size_t(2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim) * dtype_size(dtype);
}

}  // namespace ds
