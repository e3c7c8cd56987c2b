// Randomized model test: thousands of random operations against a model of the live sequences,
// checking BlockManager's invariants after every step and the prefix cache's correctness against a
// shadow record of what each block's KV was computed from.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "engine/block_manager.h"

namespace ds {
namespace {

struct PropertyCase {
  bool prefix_caching;
  int32_t block_size;
  int32_t num_blocks;
  uint32_t seed;
};

struct ModelSeq {
  std::vector<int32_t> tokens;
  BlockTable table;
  int32_t num_slotted = 0;   // tokens with a slot: tokens [0, num_slotted) fit in `table`
  int32_t num_computed = 0;  // tokens whose KV has been written
};

struct Counts {
  int64_t allocs = 0, alloc_failures = 0, cache_hit_allocs = 0, grow_failures = 0;
  int64_t forks = 0, cows = 0, frees = 0, resets = 0;
};

class BlockManagerModel {
 public:
  explicit BlockManagerModel(const PropertyCase& c)
      : c_(c), bm_(c.num_blocks, c.block_size, c.prefix_caching), rng_(c.seed) {
    // A few shared "system prompts" so that prefixes repeat across sequences.
    for (int i = 0; i < 3; ++i) {
      std::vector<int32_t> p(static_cast<size_t>(6 * c.block_size + 2));
      for (auto& t : p) t = rand_int(100, 100000);
      bases_.push_back(std::move(p));
    }
  }

  void run(int num_ops) {
    for (int op = 0; op < num_ops; ++op) {
      SCOPED_TRACE("op " + std::to_string(op));
      step();
      check_invariants();
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (auto& s : seqs_) bm_.free(s.table);
    seqs_.clear();
    check_invariants();
    EXPECT_EQ(bm_.num_free_blocks(), c_.num_blocks);
    for (int32_t b = 0; b < c_.num_blocks; ++b) EXPECT_TRUE(bm_.is_free(b)) << b;
  }

  const Counts& counts() const { return counts_; }
  const BlockManager& bm() const { return bm_; }

 private:
  int32_t rand_int(int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng_); }
  int32_t blocks_for(int32_t n) const { return (n + c_.block_size - 1) / c_.block_size; }
  std::vector<int32_t> prefix(const ModelSeq& s, int32_t n) const {
    return {s.tokens.begin(), s.tokens.begin() + n};
  }

  void step() {
    int r = rand_int(0, 99);
    if (seqs_.empty() || r < 25) return do_allocate();
    ModelSeq& s = seqs_[static_cast<size_t>(rand_int(0, static_cast<int32_t>(seqs_.size()) - 1))];
    if (r < 50) return do_compute(s);
    if (r < 68) return do_append(s);
    if (r < 76) return do_fork(s);
    if (r < 84) return do_copy_on_write(s);
    if (r < 99) return do_free(s);
    do_reset();
  }

  std::vector<int32_t> random_prompt() {
    std::vector<int32_t> t;
    int kind = rand_int(0, 3);
    if (kind < 2) {  // a shared base prompt, cut anywhere, plus a short random tail
      const auto& base = bases_[static_cast<size_t>(rand_int(0, 2))];
      t.assign(base.begin(), base.begin() + rand_int(0, static_cast<int32_t>(base.size())));
    } else if (kind == 2 && !seqs_.empty()) {  // a prefix of a live sequence (maybe all of it)
      const auto& o = seqs_[static_cast<size_t>(rand_int(0, static_cast<int32_t>(seqs_.size()) - 1))];
      t.assign(o.tokens.begin(), o.tokens.begin() + rand_int(0, static_cast<int32_t>(o.tokens.size())));
    }
    int tail = rand_int(t.empty() ? 1 : 0, 2 * c_.block_size);
    for (int i = 0; i < tail; ++i) t.push_back(rand_int(0, 3));  // tiny vocabulary: tails collide
    return t;
  }

  struct Snapshot {
    std::vector<int32_t> refs;
    int32_t num_free;
    PrefixCacheStats stats;
  };
  Snapshot snapshot() const {
    Snapshot s{{}, bm_.num_free_blocks(), bm_.prefix_cache_stats()};
    for (int32_t b = 0; b < c_.num_blocks; ++b) s.refs.push_back(bm_.ref_count(b));
    return s;
  }
  void expect_unchanged(const Snapshot& before) const {
    Snapshot now = snapshot();
    EXPECT_EQ(now.refs, before.refs);
    EXPECT_EQ(now.num_free, before.num_free);
    EXPECT_EQ(now.stats.queries, before.stats.queries);
    EXPECT_EQ(now.stats.hits, before.stats.hits);
  }

  void do_allocate() {
    ModelSeq s;
    s.tokens = random_prompt();
    auto n = static_cast<int32_t>(s.tokens.size());
    int32_t num_tokens = rand_int(0, 3) == 0 ? rand_int(1, n) : n;  // sometimes only a chunk
    std::span<const int32_t> chunk(s.tokens.data(), static_cast<size_t>(num_tokens));
    int32_t expected = bm_.num_cached_tokens(chunk);
    Snapshot before = snapshot();
    int32_t cached = bm_.allocate(s.table, s.tokens, num_tokens);
    ++counts_.allocs;
    if (cached < 0) {
      ++counts_.alloc_failures;
      EXPECT_TRUE(s.table.empty());
      expect_unchanged(before);
      EXPECT_EQ(bm_.num_cached_tokens(chunk), expected);
      // Failing is only allowed when the blocks really are short (reviving a cached block uses
      // a free one too, so the whole table's worth is the most it can need).
      EXPECT_LT(before.num_free, blocks_for(num_tokens));
      return;
    }
    EXPECT_GE(before.num_free, blocks_for(num_tokens) - cached / c_.block_size);
    check_allocation(s, num_tokens, cached, expected, before.stats);
    s.num_slotted = num_tokens;
    s.num_computed = cached;
    seqs_.push_back(std::move(s));
  }

  void check_allocation(const ModelSeq& s, int32_t num_tokens, int32_t cached, int32_t expected,
                        const PrefixCacheStats& stats_before) {
    EXPECT_EQ(cached, expected);
    EXPECT_EQ(static_cast<int32_t>(s.table.size()), blocks_for(num_tokens));
    EXPECT_EQ(cached % c_.block_size, 0);
    EXPECT_LT(cached, num_tokens);
    const PrefixCacheStats& st = bm_.prefix_cache_stats();
    if (!c_.prefix_caching) {
      EXPECT_EQ(cached, 0);
      EXPECT_EQ(st.queries, 0);
      EXPECT_EQ(st.hits, 0);
    } else {
      EXPECT_EQ(st.queries, stats_before.queries + num_tokens);
      EXPECT_EQ(st.hits, stats_before.hits + cached);
    }
    if (cached > 0) ++counts_.cache_hit_allocs;
    for (int32_t i = 0; i < static_cast<int32_t>(s.table.size()); ++i) {
      int32_t b = s.table[static_cast<size_t>(i)];
      if (i < cached / c_.block_size) {
        // Reused: its KV must have been computed from exactly this prefix.
        auto it = computed_prefix_.find(b);
        ASSERT_NE(it, computed_prefix_.end()) << "reused block " << b << " was never computed";
        EXPECT_EQ(it->second, prefix(s, (i + 1) * c_.block_size)) << "block " << b;
      } else {
        computed_prefix_.erase(b);  // fresh: its old KV is overwritten
      }
    }
  }

  void do_compute(ModelSeq& s) {
    if (s.num_computed == s.num_slotted) return;
    int32_t old_full = s.num_computed / c_.block_size;
    s.num_computed = rand_int(s.num_computed + 1, s.num_slotted);
    bm_.mark_computed(s.table, s.tokens, s.num_computed);
    for (int32_t i = old_full; i < s.num_computed / c_.block_size; ++i) {
      computed_prefix_[s.table[static_cast<size_t>(i)]] = prefix(s, (i + 1) * c_.block_size);
    }
  }

  // Decode-like growth: new tokens need slots; a shared, partly filled last block is copied first.
  // A sequence allocated for a chunk of its prompt first grows to hold the rest.
  void do_append(ModelSeq& s) {
    size_t old_size = s.tokens.size();
    if (s.num_slotted == static_cast<int32_t>(old_size)) {
      int k = rand_int(1, c_.block_size + 2);
      for (int i = 0; i < k; ++i) s.tokens.push_back(rand_int(0, 3));
    }
    if (s.num_slotted % c_.block_size != 0 && bm_.ref_count(s.table.back()) > 1) {
      if (bm_.num_free_blocks() == 0) {
        s.tokens.resize(old_size);
        return;
      }
      apply_copy_on_write(s, static_cast<int32_t>(s.table.size()) - 1);
    }
    auto total = static_cast<int32_t>(s.tokens.size());
    bool can = bm_.can_grow(s.table, total);
    Snapshot before = snapshot();
    size_t old_blocks = s.table.size();
    bool grew = bm_.grow(s.table, total);
    EXPECT_EQ(grew, can);
    EXPECT_EQ(grew, before.num_free >= blocks_for(total) - static_cast<int32_t>(old_blocks));
    if (!grew) {
      ++counts_.grow_failures;
      EXPECT_EQ(s.table.size(), old_blocks);
      expect_unchanged(before);
      s.tokens.resize(old_size);
      return;
    }
    EXPECT_EQ(static_cast<int32_t>(s.table.size()), blocks_for(total));
    for (size_t i = old_blocks; i < s.table.size(); ++i) computed_prefix_.erase(s.table[i]);
    s.num_slotted = total;
  }

  // n > 1 sampling: only a fully computed sequence is forked (as after prefill).
  void do_fork(const ModelSeq& s) {
    if (s.num_computed != static_cast<int32_t>(s.tokens.size())) return;
    ModelSeq child;
    child.tokens = s.tokens;
    child.num_slotted = s.num_slotted;
    child.num_computed = s.num_computed;
    std::vector<int32_t> refs;
    for (int32_t b : s.table) refs.push_back(bm_.ref_count(b));
    bm_.fork(s.table, child.table);
    EXPECT_EQ(child.table, s.table);
    for (size_t i = 0; i < s.table.size(); ++i) EXPECT_GE(bm_.ref_count(s.table[i]), refs[i] + 1);
    ++counts_.forks;
    seqs_.push_back(std::move(child));  // may reallocate: `s` is not used after this
  }

  void do_copy_on_write(ModelSeq& s) {
    if (s.table.empty()) return;
    apply_copy_on_write(s, rand_int(0, static_cast<int32_t>(s.table.size()) - 1));
  }
  void apply_copy_on_write(ModelSeq& s, int32_t idx) {
    int32_t old = s.table[static_cast<size_t>(idx)];
    int32_t old_ref = bm_.ref_count(old);
    bool expect_copy = old_ref > 1 && bm_.num_free_blocks() > 0;
    auto [from, to] = bm_.copy_on_write(s.table, idx);
    if (!expect_copy) {
      EXPECT_EQ(from, -1);
      EXPECT_EQ(to, -1);
      EXPECT_EQ(s.table[static_cast<size_t>(idx)], old);
      return;
    }
    ++counts_.cows;
    EXPECT_EQ(from, old);
    EXPECT_NE(to, old);
    EXPECT_EQ(s.table[static_cast<size_t>(idx)], to);
    EXPECT_EQ(bm_.ref_count(old), old_ref - 1);
    EXPECT_EQ(bm_.ref_count(to), 1);
    auto it = computed_prefix_.find(old);  // the caller copies the KV data
    if (it != computed_prefix_.end()) {
      computed_prefix_[to] = it->second;
    } else {
      computed_prefix_.erase(to);
    }
  }

  void do_free(ModelSeq& s) {
    bm_.free(s.table);
    EXPECT_TRUE(s.table.empty());
    ++counts_.frees;
    std::swap(s, seqs_.back());
    seqs_.pop_back();
  }

  void do_reset() {
    bool ok = bm_.reset_prefix_cache();
    EXPECT_EQ(ok, seqs_.empty());
    if (!ok) return;
    ++counts_.resets;
    EXPECT_EQ(bm_.num_free_blocks(), c_.num_blocks);
    for (const auto& base : bases_) EXPECT_EQ(bm_.num_cached_tokens(base), 0);
  }

  void check_invariants() const {
    std::map<int32_t, int32_t> held;
    for (const auto& s : seqs_) {
      EXPECT_EQ(static_cast<int32_t>(s.table.size()), blocks_for(s.num_slotted));
      for (int32_t b : s.table) ++held[b];
    }
    for (int32_t b = 0; b < c_.num_blocks; ++b) {
      auto it = held.find(b);
      int32_t n = it == held.end() ? 0 : it->second;
      ASSERT_EQ(bm_.ref_count(b), n) << "block " << b;
      ASSERT_EQ(bm_.is_free(b), n == 0) << "block " << b;
    }
    auto distinct = static_cast<int32_t>(held.size());
    ASSERT_EQ(bm_.num_free_blocks() + distinct, c_.num_blocks);
    EXPECT_DOUBLE_EQ(bm_.usage(), static_cast<double>(distinct) / c_.num_blocks);
    if (!c_.prefix_caching) {
      ASSERT_EQ(bm_.prefix_cache_stats().queries, 0);
      ASSERT_EQ(bm_.prefix_cache_stats().hits, 0);
    }
  }

  PropertyCase c_;
  BlockManager bm_;
  std::mt19937 rng_;
  std::vector<std::vector<int32_t>> bases_;
  std::vector<ModelSeq> seqs_;
  // block -> the whole token prefix its KV was computed under (full blocks only).
  std::unordered_map<int32_t, std::vector<int32_t>> computed_prefix_;
  Counts counts_;
};

class BlockManagerProperty : public ::testing::TestWithParam<PropertyCase> {};

TEST_P(BlockManagerProperty, InvariantsHoldUnderRandomOperations) {
  const PropertyCase& c = GetParam();
  BlockManagerModel model(c);
  model.run(20000);
  const Counts& n = model.counts();
  // The run must actually exercise the interesting paths.
  EXPECT_GT(n.alloc_failures, 0) << "no block pressure";
  EXPECT_GT(n.allocs - n.alloc_failures, 100);
  EXPECT_GT(n.forks, 10);
  EXPECT_GT(n.cows, 10);
  EXPECT_GT(n.frees, 100);
  if (c.prefix_caching) {
    EXPECT_GT(n.cache_hit_allocs, 20);
    EXPECT_GT(model.bm().prefix_cache_stats().hits, 0);
  } else {
    EXPECT_EQ(n.cache_hit_allocs, 0);
  }
}

std::vector<PropertyCase> property_cases() {
  std::vector<PropertyCase> cases;
  for (bool caching : {true, false}) {
    for (uint32_t seed : {1u, 2u, 3u, 4u}) cases.push_back({caching, 4, 24, seed});
    cases.push_back({caching, 1, 40, 11});
    cases.push_back({caching, 16, 20, 12});
    cases.push_back({caching, 3, 8, 13});  // tiny pool: constant eviction
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Seeds, BlockManagerProperty, ::testing::ValuesIn(property_cases()),
                         [](const ::testing::TestParamInfo<PropertyCase>& info) {
                           const PropertyCase& c = info.param;
                           return std::string(c.prefix_caching ? "cache" : "nocache") + "_bs" +
                                  std::to_string(c.block_size) + "_nb" + std::to_string(c.num_blocks) +
                                  "_seed" + std::to_string(c.seed);
                         });

}  // namespace
}  // namespace ds
