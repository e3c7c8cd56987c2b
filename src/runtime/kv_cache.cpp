#include "runtime/kv_cache.h"

namespace ds {

KvCache::KvCache(Backend& backend, const ModelConfig& cfg, int32_t num_blocks, int32_t block_size)
    : backend_(backend), num_blocks_(num_blocks), block_size_(block_size) {
  const DType dt = backend.kv_cache_dtype();
  block_stride_ = size_t(block_size * cfg.num_key_value_heads * cfg.head_dim) * dtype_size(dt);
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    for (auto* views : {&k_views_, &v_views_}) {
      Tensor t(static_cast<void*>(nullptr), dt, {num_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim});
      buffers_.push_back(backend.alloc(t.nbytes()));
      t.data = buffers_.back()->data();
      views->push_back(t);
    }
  }
}

void KvCache::copy_block_to_host(int32_t block, uint8_t* dst) const {
  for (size_t l = 0; l < k_views_.size(); ++l) {
    for (const Tensor& t : {k_views_[l], v_views_[l]}) {
      backend_.copy_to_host(dst, static_cast<const uint8_t*>(t.data) + size_t(block) * block_stride_, block_stride_);
      dst += block_stride_;
    }
  }
}

void KvCache::copy_block_from_host(const uint8_t* src, int32_t block) {
  for (size_t l = 0; l < k_views_.size(); ++l) {
    for (const Tensor& t : {k_views_[l], v_views_[l]}) {
      backend_.copy_to_device(static_cast<uint8_t*>(t.data) + size_t(block) * block_stride_, src, block_stride_);
      src += block_stride_;
    }
  }
}

void KvCache::copy_block(int32_t src, int32_t dst) {
  for (size_t l = 0; l < k_views_.size(); ++l) {
    for (const Tensor& t : {k_views_[l], v_views_[l]}) {
      uint8_t* base = static_cast<uint8_t*>(t.data);
      backend_.copy_on_device(base + size_t(dst) * block_stride_, base + size_t(src) * block_stride_, block_stride_);
    }
  }
}

size_t KvCache::bytes_per_token(const ModelConfig& cfg, DType dtype) {
  return size_t(2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim) * dtype_size(dtype);
}

}  // namespace ds
