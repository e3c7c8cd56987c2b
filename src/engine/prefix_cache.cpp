#include "engine/prefix_cache.h"

#include <xxhash.h>

#include "common/check.h"

namespace ds {

uint64_t hash_block_tokens(uint64_t parent_hash, std::span<const int32_t> block_token_ids) {
  // The parent's hash is the seed: one XXH3 pass over the block's ids extends the chain.
  return XXH3_64bits_withSeed(block_token_ids.data(), block_token_ids.size_bytes(), parent_hash);
}

PrefixCache::PrefixCache(int32_t num_blocks)
    : prev_(num_blocks, -1), next_(num_blocks, -1), in_queue_(num_blocks, 0) {}

int32_t PrefixCache::find(uint64_t hash) const {
  auto it = block_by_hash_.find(hash);
  return it == block_by_hash_.end() ? -1 : it->second;
}

bool PrefixCache::insert(uint64_t hash, int32_t block) {
  return block_by_hash_.emplace(hash, block).second;
}

void PrefixCache::erase(uint64_t hash, int32_t block) {
  auto it = block_by_hash_.find(hash);
  DS_CHECK(it != block_by_hash_.end() && it->second == block) << "block " << block;
  block_by_hash_.erase(it);
}

void PrefixCache::clear_hashes() {
  DS_CHECK_EQ(num_evictable_, 0);
  block_by_hash_.clear();
}

void PrefixCache::push_evictable(int32_t block) {
  DS_CHECK(!in_queue_[block]) << "block " << block << " already evictable";
  in_queue_[block] = 1;
  prev_[block] = tail_;
  next_[block] = -1;
  if (tail_ >= 0) {
    next_[tail_] = block;
  } else {
    head_ = block;
  }
  tail_ = block;
  ++num_evictable_;
}

void PrefixCache::remove_evictable(int32_t block) {
  DS_CHECK(in_queue_[block]) << "block " << block << " not evictable";
  int32_t p = prev_[block], n = next_[block];
  if (p >= 0) {
    next_[p] = n;
  } else {
    head_ = n;
  }
  if (n >= 0) {
    prev_[n] = p;
  } else {
    tail_ = p;
  }
  prev_[block] = next_[block] = -1;
  in_queue_[block] = 0;
  --num_evictable_;
}

int32_t PrefixCache::pop_evictable() {
  int32_t block = head_;
  if (block >= 0) remove_evictable(block);
  return block;
}

}  // namespace ds
