// Capacity, growth, fork/copy-on-write and reset: the non-random contract of BlockManager.
#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <vector>

namespace ds {
namespace {

std::vector<int32_t> iota_tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<int32_t> refs(const BlockManager& bm) {
  std::vector<int32_t> r;
  for (int32_t b = 0; b < bm.num_blocks(); ++b) r.push_back(bm.ref_count(b));
  return r;
}

TEST(BlockManager, AllocateTakesDistinctBlocksAndFailsWithoutSideEffects) {
  BlockManager bm(4, 4, true);
  EXPECT_EQ(bm.block_size(), 4);
  EXPECT_EQ(bm.num_blocks(), 4);
  const auto too_long = iota_tokens(0, 17);
  BlockTable t;
  EXPECT_EQ(bm.allocate(t, too_long, 17), -1);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(bm.num_free_blocks(), 4);
  EXPECT_EQ(bm.prefix_cache_stats().queries, 0);
  EXPECT_EQ(refs(bm), std::vector<int32_t>(4, 0));

  EXPECT_EQ(bm.allocate(t, too_long, 13), 0);  // only the first 13 tokens need slots
  EXPECT_EQ(std::set<int32_t>(t.begin(), t.end()).size(), 4u);
  for (int32_t b : t) EXPECT_EQ(bm.ref_count(b), 1);
  EXPECT_EQ(bm.num_free_blocks(), 0);
  EXPECT_DOUBLE_EQ(bm.usage(), 1.0);
  EXPECT_EQ(bm.prefix_cache_stats().queries, 13);
  bm.free(t);
  EXPECT_TRUE(t.empty());
  for (int32_t b = 0; b < 4; ++b) EXPECT_TRUE(bm.is_free(b));
}

TEST(BlockManager, RevivingCachedBlocksCountsAgainstCapacity) {
  BlockManager bm(4, 4, true);
  const auto x = iota_tokens(10, 12);  // 3 full blocks
  BlockTable tx;
  ASSERT_EQ(bm.allocate(tx, x, 12), 0);
  bm.mark_computed(tx, x, 12);
  const BlockTable old_x = tx;
  bm.free(tx);

  // Allocation prefers the truly free block over evicting x's cached ones.
  const auto y = iota_tokens(500, 3);
  BlockTable ty;
  ASSERT_EQ(bm.allocate(ty, y, 3), 0);
  for (int32_t b : old_x) EXPECT_NE(ty[0], b);

  // x + 4 tokens needs 3 revived + 1 fresh = 4 blocks, but only the 3 cached ones are available.
  auto x_longer = iota_tokens(10, 16);
  EXPECT_EQ(bm.num_cached_tokens(x_longer), 12);
  const auto before = refs(bm);
  const PrefixCacheStats stats = bm.prefix_cache_stats();
  BlockTable t;
  EXPECT_EQ(bm.allocate(t, x_longer, 16), -1);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(refs(bm), before);
  EXPECT_EQ(bm.num_free_blocks(), 3);
  EXPECT_EQ(bm.prefix_cache_stats().queries, stats.queries);
  EXPECT_EQ(bm.prefix_cache_stats().hits, stats.hits);
  EXPECT_EQ(bm.num_cached_tokens(x_longer), 12);

  bm.free(ty);
  EXPECT_EQ(bm.allocate(t, x_longer, 16), 12);
  EXPECT_EQ(BlockTable(t.begin(), t.begin() + 3), old_x);
  EXPECT_EQ(bm.num_free_blocks(), 0);
  bm.free(t);
}

TEST(BlockManager, GrowRespectsCapacity) {
  BlockManager bm(4, 4, false);
  const auto p = iota_tokens(0, 5);
  BlockTable t;
  ASSERT_EQ(bm.allocate(t, p, 5), 0);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(bm.can_grow(t, 8));  // fits in the current blocks
  EXPECT_TRUE(bm.grow(t, 8));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(bm.num_free_blocks(), 2);
  EXPECT_TRUE(bm.can_grow(t, 16));
  EXPECT_FALSE(bm.can_grow(t, 17));
  EXPECT_FALSE(bm.grow(t, 17));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(bm.num_free_blocks(), 2);
  EXPECT_TRUE(bm.grow(t, 16));
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(bm.num_free_blocks(), 0);
  EXPECT_FALSE(bm.can_grow(BlockTable{}, 1));
  EXPECT_TRUE(bm.can_grow(BlockTable{}, 0));
  bm.free(t);
  EXPECT_EQ(bm.num_free_blocks(), 4);
}

TEST(BlockManager, ForkSharesAndCopyOnWriteSplits) {
  BlockManager bm(5, 4, false);
  const auto p = iota_tokens(0, 6);
  BlockTable parent, child;
  ASSERT_EQ(bm.allocate(parent, p, 6), 0);
  bm.fork(parent, child);
  EXPECT_EQ(child, parent);
  for (int32_t b : parent) EXPECT_EQ(bm.ref_count(b), 2);
  EXPECT_EQ(bm.num_free_blocks(), 3);
  EXPECT_DOUBLE_EQ(bm.usage(), 0.4);

  auto [from, to] = bm.copy_on_write(child, 1);
  EXPECT_EQ(from, parent[1]);
  EXPECT_NE(to, parent[1]);
  EXPECT_NE(to, parent[0]);
  EXPECT_EQ(child[1], to);
  EXPECT_EQ(bm.ref_count(from), 1);
  EXPECT_EQ(bm.ref_count(to), 1);
  EXPECT_EQ(bm.num_free_blocks(), 2);
  EXPECT_EQ(bm.copy_on_write(child, 1), std::make_pair(-1, -1));  // no longer shared

  BlockTable other;  // exhaust the pool: a shared block can no longer be copied
  ASSERT_EQ(bm.allocate(other, iota_tokens(100, 8), 8), 0);
  EXPECT_EQ(bm.num_free_blocks(), 0);
  EXPECT_EQ(bm.copy_on_write(child, 0), std::make_pair(-1, -1));
  EXPECT_EQ(child[0], parent[0]);
  EXPECT_EQ(bm.ref_count(parent[0]), 2);

  bm.free(child);
  EXPECT_EQ(bm.ref_count(parent[0]), 1);
  EXPECT_TRUE(bm.is_free(to));
  bm.free(parent);
  bm.free(other);
  EXPECT_EQ(bm.num_free_blocks(), 5);
}

TEST(BlockManager, ResetPrefixCacheOnlyWhenIdle) {
  BlockManager bm(8, 4, true);
  const auto p = iota_tokens(40, 9);
  BlockTable t;
  ASSERT_EQ(bm.allocate(t, p, 9), 0);
  bm.mark_computed(t, p, 9);
  EXPECT_FALSE(bm.reset_prefix_cache());  // blocks in use
  EXPECT_EQ(bm.num_cached_tokens(p), 8);
  bm.free(t);
  EXPECT_EQ(bm.num_cached_tokens(p), 8);
  EXPECT_TRUE(bm.reset_prefix_cache());
  EXPECT_EQ(bm.num_cached_tokens(p), 0);
  EXPECT_EQ(bm.num_free_blocks(), 8);
  EXPECT_EQ(bm.allocate(t, p, 9), 0);
  bm.free(t);
}

TEST(BlockManagerDeathTest, DoubleFreeAborts) {
  BlockManager bm(2, 4, false);
  BlockTable t;
  ASSERT_EQ(bm.allocate(t, iota_tokens(0, 4), 4), 0);
  BlockTable copy = t;
  bm.free(t);
  EXPECT_DEATH(bm.free(copy), "double free");
}

}  // namespace
}  // namespace ds
