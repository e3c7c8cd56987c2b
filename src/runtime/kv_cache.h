#pragma once
// KvCache: per-layer paged K and V storage, [num_blocks, block_size, num_kv_heads, head_dim] each,
// in the backend's memory and activation dtype. Block bookkeeping lives elsewhere (BlockManager).
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

 private:
  int32_t num_blocks_, block_size_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  std::vector<Tensor> k_views_, v_views_;
};

}  // namespace ds
