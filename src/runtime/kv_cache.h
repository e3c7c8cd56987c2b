#pragma once
// KvCache: per-layer paged K and V storage, [num_blocks, block_size, num_kv_heads, head_dim] each,
// in the backend's memory and KV cache dtype (Backend::kv_cache_dtype). Block bookkeeping lives
// elsewhere (BlockManager).
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace ds {

class KvCache {
 public:
  KvCache(Backend& backend, const ModelConfig& cfg, int32_t num_blocks, int32_t block_size);
  Tensor k(int64_t layer) const { return k_views_[size_t(layer)]; }
  Tensor v(int64_t layer) const { return v_views_[size_t(layer)]; }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Bytes of K+V for one token across all layers.
  static size_t bytes_per_token(const ModelConfig& cfg, DType dtype);
  // Bytes of one block's K+V across all layers (the unit of swapping).
  size_t bytes_per_block() const { return 2 * k_views_.size() * block_stride_; }

  // Block data movement (swap and copy-on-write). Host layout: for each layer, K then V block.
  void copy_block_to_host(int32_t block, uint8_t* dst) const;
  void copy_block_from_host(const uint8_t* src, int32_t block);
  void copy_block(int32_t src, int32_t dst);

 private:
  Backend& backend_;
  int32_t num_blocks_, block_size_;
  size_t block_stride_ = 0;  // bytes of one block in one layer's K (or V)
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  std::vector<Tensor> k_views_, v_views_;
};

}  // namespace ds
