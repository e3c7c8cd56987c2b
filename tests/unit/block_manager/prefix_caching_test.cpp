// Automatic prefix caching: sharing, reuse after free, LRU eviction and the "compute at least one
// token" rule, with exact block ids and counters.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "engine/block_manager.h"

namespace ds {
namespace {

constexpr int32_t kBlockSize = 16;

std::vector<int32_t> iota_tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool contains(const BlockTable& t, int32_t b) { return std::find(t.begin(), t.end(), b) != t.end(); }

int32_t allocate_all(BlockManager& bm, BlockTable& t, const std::vector<int32_t>& tokens) {
  return bm.allocate(t, tokens, static_cast<int32_t>(tokens.size()));
}

// Allocates and computes the whole prompt (a finished prefill).
BlockTable prefill(BlockManager& bm, const std::vector<int32_t>& tokens) {
  BlockTable t;
  EXPECT_GE(allocate_all(bm, t, tokens), 0);
  bm.mark_computed(t, tokens, static_cast<int32_t>(tokens.size()));
  return t;
}

TEST(PrefixCaching, SharedPrefixIsReusedThenSurvivesFreeThenIsEvictedLru) {
  BlockManager bm(32, kBlockSize, true);
  const auto prefix = iota_tokens(1000, 200);  // 12 full blocks + 8 tokens
  const auto a = concat(prefix, iota_tokens(1, 10));
  const auto b = concat(prefix, iota_tokens(21, 10));

  BlockTable ta;
  EXPECT_EQ(allocate_all(bm, ta, a), 0);
  EXPECT_EQ(ta.size(), 14u);
  bm.mark_computed(ta, a, 210);
  EXPECT_EQ(bm.prefix_cache_stats().queries, 210);
  EXPECT_EQ(bm.prefix_cache_stats().hits, 0);

  // Second prompt: the 12 blocks wholly inside the shared prefix are hits (block 12 mixes in a's tail).
  EXPECT_EQ(bm.num_cached_tokens(b), 192);
  BlockTable tb;
  EXPECT_EQ(allocate_all(bm, tb, b), 192);
  ASSERT_EQ(tb.size(), 14u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(tb[i], ta[i]) << i;
    EXPECT_EQ(bm.ref_count(ta[i]), 2) << i;
  }
  EXPECT_FALSE(contains(ta, tb[12]));
  EXPECT_FALSE(contains(ta, tb[13]));
  EXPECT_EQ(bm.num_free_blocks(), 32 - 16);
  EXPECT_EQ(bm.prefix_cache_stats().queries, 420);
  EXPECT_EQ(bm.prefix_cache_stats().hits, 192);
  bm.mark_computed(tb, b, 210);

  // Both freed: everything is reusable, but the registered blocks keep their KV.
  const BlockTable old_a = ta, old_b = tb;
  bm.free(ta);
  bm.free(tb);
  EXPECT_EQ(bm.num_free_blocks(), 32);
  EXPECT_DOUBLE_EQ(bm.usage(), 0.0);

  // Third prompt identical to a: 13 full blocks come back from the evictable cache.
  BlockTable tc;
  EXPECT_EQ(allocate_all(bm, tc, a), 208);
  for (size_t i = 0; i < 13; ++i) EXPECT_EQ(tc[i], old_a[i]) << i;
  EXPECT_EQ(bm.prefix_cache_stats().queries, 630);
  EXPECT_EQ(bm.prefix_cache_stats().hits, 400);
  bm.free(tc);

  // Evictable queue, least recently freed first: b[12], a[12], then the prefix blocks 11..0
  // (freed last block first). 18 blocks are truly free; a 25-block filler evicts 7 cached ones.
  BlockTable filler;
  EXPECT_EQ(allocate_all(bm, filler, iota_tokens(5000, 25 * kBlockSize)), 0);
  EXPECT_EQ(bm.num_free_blocks(), 7);
  EXPECT_TRUE(contains(filler, old_b[12]));
  EXPECT_TRUE(contains(filler, old_a[12]));
  for (size_t i = 7; i < 12; ++i) EXPECT_TRUE(contains(filler, old_a[i])) << i;
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_FALSE(contains(filler, old_a[i])) << i;
    EXPECT_TRUE(bm.is_free(old_a[i])) << i;
  }
  EXPECT_EQ(bm.num_cached_tokens(a), 7 * kBlockSize);
  EXPECT_EQ(bm.num_cached_tokens(b), 7 * kBlockSize);

  bm.free(filler);  // never computed: straight back to the free list, evicts nothing
  BlockTable td;
  EXPECT_EQ(allocate_all(bm, td, a), 112);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(td[i], old_a[i]) << i;
  EXPECT_EQ(bm.prefix_cache_stats().queries, 630 + 400 + 210);
  EXPECT_EQ(bm.prefix_cache_stats().hits, 400 + 112);
  bm.free(td);
  EXPECT_EQ(bm.num_free_blocks(), 32);
}

TEST(PrefixCaching, FullyCachedPromptLeavesLastBlockToCompute) {
  BlockManager bm(8, kBlockSize, true);
  const auto p = iota_tokens(7, 2 * kBlockSize);
  BlockTable first = prefill(bm, p);
  const BlockTable old = first;
  bm.free(first);

  EXPECT_EQ(bm.num_cached_tokens(p), kBlockSize);
  BlockTable t;
  EXPECT_EQ(allocate_all(bm, t, p), kBlockSize);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], old[0]);
  EXPECT_NE(t[1], old[1]);  // a truly free block is preferred over evicting the cached one
  EXPECT_TRUE(bm.is_free(old[1]));
  EXPECT_EQ(bm.prefix_cache_stats().hits, kBlockSize);

  // Recomputed block 1 duplicates old[1]'s hash: the existing mapping is kept.
  bm.mark_computed(t, p, 2 * kBlockSize);
  bm.free(t);
  auto longer = concat(p, {99});
  BlockTable t2;
  EXPECT_EQ(allocate_all(bm, t2, longer), 2 * kBlockSize);
  EXPECT_EQ(t2[0], old[0]);
  EXPECT_EQ(t2[1], old[1]);
  bm.free(t2);

  // A chunk ending exactly on a block boundary also recomputes its last block.
  BlockManager bm2(32, kBlockSize, true);
  const auto prompt = concat(iota_tokens(1000, 200), iota_tokens(1, 10));
  BlockTable full = prefill(bm2, prompt);
  BlockTable chunk;
  EXPECT_EQ(bm2.allocate(chunk, prompt, 192), 176);
  EXPECT_EQ(chunk.size(), 12u);
  EXPECT_EQ(bm2.num_cached_tokens(std::span<const int32_t>(prompt.data(), 1)), 0);
}

TEST(PrefixCaching, ConcurrentIdenticalPromptsRegisterOnce) {
  BlockManager bm(16, 4, true);
  const auto p = iota_tokens(50, 9);  // 2 full blocks + 1 token
  BlockTable x, y;
  EXPECT_EQ(allocate_all(bm, x, p), 0);
  EXPECT_EQ(allocate_all(bm, y, p), 0);  // x is not computed yet: nothing to reuse
  EXPECT_NE(x[0], y[0]);
  bm.mark_computed(x, p, 9);
  bm.mark_computed(y, p, 9);
  const BlockTable old_x = x, old_y = y;
  bm.free(y);  // y's duplicates were never registered: truly free
  bm.free(x);
  BlockTable z;
  EXPECT_EQ(allocate_all(bm, z, p), 8);
  EXPECT_EQ(z[0], old_x[0]);
  EXPECT_EQ(z[1], old_x[1]);
  bm.free(z);
}

TEST(PrefixCaching, IncrementalMarkComputedMatchesOneShot) {
  // Chunked prefill + decode registering block by block must give the same hashes as one call.
  BlockManager bm(16, 4, true);
  auto p = iota_tokens(300, 10);
  BlockTable t;
  EXPECT_EQ(bm.allocate(t, p, 6), 0);
  bm.mark_computed(t, p, 3);
  bm.mark_computed(t, p, 6);
  ASSERT_TRUE(bm.grow(t, 10));
  bm.mark_computed(t, p, 10);
  for (int32_t tok : {1, 2, 3}) {  // decode: one token at a time
    p.push_back(tok);
    ASSERT_TRUE(bm.grow(t, static_cast<int32_t>(p.size())));
    bm.mark_computed(t, p, static_cast<int32_t>(p.size()));
  }
  const BlockTable old = t;
  bm.free(t);
  auto again = concat(p, {42});
  BlockTable u;
  EXPECT_EQ(allocate_all(bm, u, again), 12);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(u[i], old[i]) << i;
  bm.free(u);
}

TEST(PrefixCaching, DisabledMeansNoReuseAndNoCounters) {
  BlockManager bm(8, 4, false);
  const auto p = iota_tokens(1, 13);
  BlockTable t = prefill(bm, p);
  bm.free(t);
  EXPECT_EQ(bm.num_cached_tokens(p), 0);
  BlockTable u;
  EXPECT_EQ(allocate_all(bm, u, p), 0);
  EXPECT_EQ(bm.prefix_cache_stats().queries, 0);
  EXPECT_EQ(bm.prefix_cache_stats().hits, 0);
  bm.free(u);
  EXPECT_EQ(bm.num_free_blocks(), 8);
}

}  // namespace
}  // namespace ds
