#include "engine/block_manager.h"

#include <utility>

#include "common/check.h"
#include "engine/prefix_cache.h"

namespace ds {

// Block states (ref_count, registered):
//   (0, no)   free: in free_blocks, reusable at once.
//   (0, yes)  cached, evictable: in the prefix cache's evictable queue, its KV still valid.
//   (>0, any) in use by ref_count tables.
// `hashed` means the block is full, computed and its chain hash is known (in use or evictable);
// a hashed block may be unregistered when another block already holds its hash.
struct BlockMeta {
  int32_t ref_count = 0;
  bool hashed = false;
  bool registered = false;
  uint64_t hash = 0;
};

struct BlockManager::Impl {
  int32_t num_blocks;
  int32_t block_size;
  bool enable_prefix_caching;
  std::vector<BlockMeta> meta;
  std::vector<int32_t> free_blocks;  // stack; lowest ids on top at start
  PrefixCache cache;
  PrefixCacheStats stats;

  Impl(int32_t n, int32_t bs, bool caching)
      : num_blocks(n), block_size(bs), enable_prefix_caching(caching), meta(n), cache(n) {
    free_blocks.reserve(n);
    for (int32_t b = n - 1; b >= 0; --b) free_blocks.push_back(b);
  }

  int32_t num_free() const {
    return static_cast<int32_t>(free_blocks.size()) + cache.num_evictable();
  }
  int32_t blocks_for(int32_t num_tokens) const { return (num_tokens + block_size - 1) / block_size; }
  std::span<const int32_t> block_tokens(std::span<const int32_t> token_ids, int32_t idx) const {
    return token_ids.subspan(static_cast<size_t>(idx) * block_size, block_size);
  }

  void check_block(int32_t b) const {
    DS_CHECK(b >= 0 && b < num_blocks) << "block=" << b << " num_blocks=" << num_blocks;
  }

  // Physical blocks holding the longest cached prefix of token_ids[0, num_tokens), leaving at
  // least one token to compute.
  std::vector<int32_t> find_cached_blocks(std::span<const int32_t> token_ids, int32_t num_tokens) const {
    std::vector<int32_t> blocks;
    if (!enable_prefix_caching) return blocks;
    uint64_t parent = kRootBlockHash;
    for (int32_t i = 0; i < num_tokens / block_size; ++i) {
      parent = hash_block_tokens(parent, block_tokens(token_ids, i));
      int32_t b = cache.find(parent);
      if (b < 0) break;
      blocks.push_back(b);
    }
    // A fully cached prompt still needs its last token's logits: recompute the last block.
    if (!blocks.empty() && static_cast<int32_t>(blocks.size()) * block_size == num_tokens) {
      blocks.pop_back();
    }
    return blocks;
  }

  // A cached block joins one more table (reviving it if it was evictable).
  void acquire_cached(int32_t b) {
    BlockMeta& m = meta[b];
    DS_CHECK(m.registered) << "block " << b;
    if (m.ref_count == 0) cache.remove_evictable(b);
    ++m.ref_count;
  }

  // A block with no content for a new table: a free one, else the least recently freed cached one.
  int32_t take_fresh_block() {
    int32_t b;
    if (!free_blocks.empty()) {
      b = free_blocks.back();
      free_blocks.pop_back();
    } else {
      b = cache.pop_evictable();
      DS_CHECK(b >= 0) << "no free or evictable block; callers must check capacity";
      cache.erase(meta[b].hash, b);
    }
    DS_CHECK_EQ(meta[b].ref_count, 0);
    meta[b] = BlockMeta{};
    meta[b].ref_count = 1;
    return b;
  }

  void release(int32_t b) {
    check_block(b);
    BlockMeta& m = meta[b];
    DS_CHECK(m.ref_count > 0) << "double free of block " << b;
    if (--m.ref_count > 0) return;
    if (m.registered) {
      cache.push_evictable(b);  // tail: evicted after every block freed before it
    } else {
      m = BlockMeta{};
      free_blocks.push_back(b);
    }
  }

  void register_full_block(int32_t b, uint64_t hash) {
    BlockMeta& m = meta[b];
    DS_CHECK(!m.hashed) << "block " << b << " hashed twice";
    m.hashed = true;
    m.hash = hash;
    m.registered = cache.insert(hash, b);  // a duplicate keeps the existing mapping
  }
};

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching) {
  DS_CHECK(num_blocks > 0 && block_size > 0) << "num_blocks=" << num_blocks << " block_size=" << block_size;
  impl_ = std::make_unique<Impl>(num_blocks, block_size, enable_prefix_caching);
}

BlockManager::~BlockManager() = default;

int32_t BlockManager::block_size() const { return impl_->block_size; }
int32_t BlockManager::num_blocks() const { return impl_->num_blocks; }
int32_t BlockManager::num_free_blocks() const { return impl_->num_free(); }

double BlockManager::usage() const {
  return static_cast<double>(impl_->num_blocks - impl_->num_free()) / impl_->num_blocks;
}

int32_t BlockManager::num_cached_tokens(std::span<const int32_t> token_ids) const {
  auto n = static_cast<int32_t>(token_ids.size());
  return static_cast<int32_t>(impl_->find_cached_blocks(token_ids, n).size()) * impl_->block_size;
}

int32_t BlockManager::allocate(BlockTable& table, std::span<const int32_t> token_ids, int32_t num_tokens) {
  DS_CHECK(table.empty()) << "allocate into a table holding " << table.size() << " blocks";
  DS_CHECK(num_tokens >= 0 && num_tokens <= static_cast<int64_t>(token_ids.size()))
      << "num_tokens=" << num_tokens << " token_ids=" << token_ids.size();
  Impl& im = *impl_;
  std::vector<int32_t> cached = im.find_cached_blocks(token_ids, num_tokens);
  auto num_cached_blocks = static_cast<int32_t>(cached.size());
  int32_t num_fresh = im.blocks_for(num_tokens) - num_cached_blocks;
  // Reviving an evictable block uses up free capacity just like taking a fresh one.
  int32_t num_revived = 0;
  for (int32_t b : cached) num_revived += im.meta[b].ref_count == 0 ? 1 : 0;
  if (num_fresh + num_revived > im.num_free()) return -1;

  table.reserve(static_cast<size_t>(num_cached_blocks + num_fresh));
  // Cached blocks first, so that taking fresh ones cannot evict them.
  for (int32_t b : cached) {
    im.acquire_cached(b);
    table.push_back(b);
  }
  for (int32_t i = 0; i < num_fresh; ++i) table.push_back(im.take_fresh_block());

  int32_t num_cached_tokens = num_cached_blocks * im.block_size;
  if (im.enable_prefix_caching) {
    im.stats.queries += num_tokens;
    im.stats.hits += num_cached_tokens;
  }
  return num_cached_tokens;
}

bool BlockManager::can_grow(const BlockTable& table, int32_t new_total) const {
  int32_t needed = impl_->blocks_for(new_total) - static_cast<int32_t>(table.size());
  return needed <= impl_->num_free();
}

bool BlockManager::grow(BlockTable& table, int32_t new_total) {
  if (!can_grow(table, new_total)) return false;
  while (static_cast<int32_t>(table.size()) < impl_->blocks_for(new_total)) {
    table.push_back(impl_->take_fresh_block());
  }
  return true;
}

void BlockManager::mark_computed(const BlockTable& table, std::span<const int32_t> token_ids,
                                 int32_t num_computed) {
  Impl& im = *impl_;
  if (!im.enable_prefix_caching) return;
  DS_CHECK(num_computed >= 0 && num_computed <= static_cast<int64_t>(token_ids.size()))
      << "num_computed=" << num_computed << " token_ids=" << token_ids.size();
  DS_CHECK_LE(im.blocks_for(num_computed), static_cast<int32_t>(table.size()));
  int32_t num_full = num_computed / im.block_size;
  // Blocks are hashed in order, so the unhashed full blocks are a suffix of [0, num_full) (a
  // copy-on-write block behind a hashed one keeps its hash): scan back to the last hashed one.
  int32_t first = num_full;
  while (first > 0 && !im.meta[table[first - 1]].hashed) --first;
  uint64_t parent = first == 0 ? kRootBlockHash : im.meta[table[first - 1]].hash;
  for (int32_t i = first; i < num_full; ++i) {
    parent = hash_block_tokens(parent, im.block_tokens(token_ids, i));
    im.register_full_block(table[i], parent);
  }
}

void BlockManager::fork(const BlockTable& src, BlockTable& dst) {
  DS_CHECK(dst.empty()) << "fork into a table holding " << dst.size() << " blocks";
  for (int32_t b : src) {
    impl_->check_block(b);
    DS_CHECK(impl_->meta[b].ref_count > 0) << "fork of unreferenced block " << b;
    ++impl_->meta[b].ref_count;
  }
  dst = src;
}

std::pair<int32_t, int32_t> BlockManager::copy_on_write(BlockTable& table, int32_t idx) {
  DS_CHECK(idx >= 0 && idx < static_cast<int32_t>(table.size())) << "idx=" << idx << " size=" << table.size();
  Impl& im = *impl_;
  int32_t old_block = table[idx];
  if (im.meta[old_block].ref_count <= 1 || im.num_free() == 0) return {-1, -1};
  int32_t new_block = im.take_fresh_block();
  --im.meta[old_block].ref_count;  // was > 1: stays referenced
  // The caller copies the KV data, so a full block's hash still describes the copy; it is not
  // registered (the original holds the hash).
  im.meta[new_block].hashed = im.meta[old_block].hashed;
  im.meta[new_block].hash = im.meta[old_block].hash;
  table[idx] = new_block;
  return {old_block, new_block};
}

void BlockManager::free(BlockTable& table) {
  // Last block first: the evictable queue then holds a prompt's leading blocks nearest its tail,
  // so they are evicted last (they are the ones other prompts share).
  for (auto it = table.rbegin(); it != table.rend(); ++it) impl_->release(*it);
  table.clear();
}

bool BlockManager::reset_prefix_cache() {
  Impl& im = *impl_;
  if (im.num_free() != im.num_blocks) return false;
  for (int32_t b = im.cache.pop_evictable(); b >= 0; b = im.cache.pop_evictable()) {
    im.meta[b] = BlockMeta{};
    im.free_blocks.push_back(b);
  }
  im.cache.clear_hashes();
  return true;
}

const PrefixCacheStats& BlockManager::prefix_cache_stats() const { return impl_->stats; }

int32_t BlockManager::ref_count(int32_t block) const {
  impl_->check_block(block);
  return impl_->meta[block].ref_count;
}

bool BlockManager::is_free(int32_t block) const {
  impl_->check_block(block);
  return impl_->meta[block].ref_count == 0;
}

}  // namespace ds
