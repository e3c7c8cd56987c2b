#pragma once
// BlockManager: the paged KV cache's bookkeeping (vLLM vocabulary). Owns the free list, reference
// counts and the automatic prefix cache; never touches KV data itself.
//
// Contract:
// - A BlockTable lists the physical blocks of one sequence in order; token i lives in slot
//   table[i / block_size] * block_size + i % block_size.
// - ref_count(b) == number of BlockTables holding b, for every block in use.
// - A block is FULL when block_size tokens are in it and they are computed. With prefix caching on,
//   a full block is registered under hash(parent block's hash, its token ids) (XXH3-64 chain).
// - Freed blocks whose hash is registered stay reusable ("cached, evictable") until a new
//   allocation needs them; eviction takes the least recently freed first (LRU). Blocks that were
//   never registered go straight back to the free list.
// - A block is never both free/evictable and referenced by a table.
// Thread: the engine thread only.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ds {

using BlockTable = std::vector<int32_t>;

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up in the prefix cache
  int64_t hits = 0;     // of which found cached (reused without computing)
};

class BlockManager {
 public:
  BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);
  ~BlockManager();
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  int32_t block_size() const;
  int32_t num_blocks() const;
  int32_t num_free_blocks() const;  // free + cached-evictable (both can be handed out)
  double usage() const;             // fraction of blocks referenced by some table

  // Number of leading tokens of `token_ids` found in the prefix cache (full blocks only, and
  // never the whole sequence: at least one token must remain to compute). No side effects.
  int32_t num_cached_tokens(std::span<const int32_t> token_ids) const;

  // Makes `table` (empty) hold blocks for the first `num_tokens` tokens of `token_ids`, reusing
  // cached full blocks (their ref counts go up) and taking fresh ones for the rest. Returns the
  // number of tokens already computed thanks to the cache, or -1 (and changes nothing) when there
  // are not enough free blocks. Updates the query/hit counters.
  int32_t allocate(BlockTable& table, std::span<const int32_t> token_ids, int32_t num_tokens);

  // Grows `table` so it can hold `new_total` tokens. False (and no change) if blocks ran out.
  bool can_grow(const BlockTable& table, int32_t new_total) const;
  bool grow(BlockTable& table, int32_t new_total);

  // Tells the cache that tokens [0, num_computed) of the sequence are computed; every block that
  // became full is registered (prefix caching on). `token_ids` are the sequence's tokens so far.
  void mark_computed(const BlockTable& table, std::span<const int32_t> token_ids, int32_t num_computed);

  // Shares every block of `src` with a new table `dst` (ref count + 1 each); for n > 1. The caller
  // must copy-on-write the last block before writing into it: see needs_copy_on_write().
  void fork(const BlockTable& src, BlockTable& dst);
  // If the block at index `idx` of `table` is shared (ref > 1), replaces it with a fresh block and
  // returns {old, new} so the caller copies the KV data; returns {-1, -1} when not shared or when no
  // block is free (check num_free_blocks() first).
  std::pair<int32_t, int32_t> copy_on_write(BlockTable& table, int32_t idx);

  // Drops the table's references (last block first, so the prompt's leading blocks stay cached
  // longest). Empties `table`.
  void free(BlockTable& table);

  // Forgets every registered hash (e.g. /reset_prefix_cache); fails (false) if blocks are in use.
  bool reset_prefix_cache();

  const PrefixCacheStats& prefix_cache_stats() const;
  int32_t ref_count(int32_t block) const;  // for tests
  bool is_free(int32_t block) const;       // free or cached-evictable; for tests

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds
