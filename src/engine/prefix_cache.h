#pragma once
// PrefixCache: the automatic prefix cache's index (vLLM's "cached block hash -> block" map plus
// the queue of cached blocks nobody references). It only indexes; BlockManager owns ref counts
// and decides when a block enters or leaves either structure.
//
// - hash -> block: at most one block per hash (a duplicate computed later is simply not
//   registered). Hashes are 64-bit XXH3 chains: a collision would silently reuse the wrong KV;
//   at 2^-64 per pair this is accepted, as with vLLM's non-cryptographic hash option.
// - Evictable queue: registered blocks with ref_count 0, in the order they were freed. Eviction
//   takes the head (least recently freed); reuse removes a block from anywhere in O(1).
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace ds {

// Parent hash of a sequence's first block.
inline constexpr uint64_t kRootBlockHash = 0x6473736572766531ull;  // "dsserve1"

// Hash of one full block of token ids, chained on its parent block's hash, so equal hashes
// stand for equal whole prefixes.
uint64_t hash_block_tokens(uint64_t parent_hash, std::span<const int32_t> block_token_ids);

class PrefixCache {
 public:
  explicit PrefixCache(int32_t num_blocks);

  // Registered block for `hash`, or -1.
  int32_t find(uint64_t hash) const;
  // Registers `block` under `hash`; false (nothing changes) if the hash already has a block.
  bool insert(uint64_t hash, int32_t block);
  // Unregisters `hash`, which must map to `block`.
  void erase(uint64_t hash, int32_t block);
  // Forgets every hash (the evictable queue must be empty).
  void clear_hashes();
  int32_t num_registered() const { return static_cast<int32_t>(block_by_hash_.size()); }

  void push_evictable(int32_t block);    // appends at the tail (most recently freed)
  void remove_evictable(int32_t block);  // the block is being reused
  int32_t pop_evictable();               // head (least recently freed), or -1 when empty
  bool is_evictable(int32_t block) const { return in_queue_[block] != 0; }
  int32_t num_evictable() const { return num_evictable_; }

 private:
  std::unordered_map<uint64_t, int32_t> block_by_hash_;
  // Intrusive doubly linked list over block ids: no allocation on the hot path.
  std::vector<int32_t> prev_, next_;
  std::vector<uint8_t> in_queue_;
  int32_t head_ = -1, tail_ = -1, num_evictable_ = 0;
};

}  // namespace ds
