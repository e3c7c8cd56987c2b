// Automatic prefix caching through the engine: a second request sharing a 200-token prefix with a
// finished one reuses its 12 full blocks (192 tokens), computes only the rest, and produces exactly
// what it produces with prefix caching off.
#include <random>

#include "engine_harness.h"

namespace ds::test {
namespace {

TEST(PrefixCacheEngine, SharedPrefixComputesOnlyNewTokens) {
  const std::vector<int32_t> prefix = random_prompt(7, 200);
  std::vector<int32_t> a = prefix, b = prefix;
  const std::vector<int32_t> sa = random_prompt(8, 7), sb = random_prompt(9, 13);
  a.insert(a.end(), sa.begin(), sa.end());
  b.insert(b.end(), sb.begin(), sb.end());
  constexpr int32_t kMaxTokens = 8;

  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = true;
  auto backend = make_test_backend();
  auto engine = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;

  auto sa_stream = e.submit(greedy_request("a", a, kMaxTokens));
  ASSERT_TRUE(sa_stream.ok());
  Output out_a = collect(**sa_stream);
  EXPECT_EQ(out_a.usage.cached_tokens, 0);
  const int64_t hits0 = e.stats().prefix_cache_hits, tokens0 = e.stats().batched_tokens_total;
  EXPECT_EQ(hits0, 0);
  EXPECT_EQ(tokens0, int64_t(a.size()) + kMaxTokens - 1);

  auto sb_stream = e.submit(greedy_request("b", b, kMaxTokens));
  ASSERT_TRUE(sb_stream.ok());
  Output out_b = collect(**sb_stream);
  EXPECT_EQ(e.stats().prefix_cache_hits - hits0, 192);
  EXPECT_EQ(e.stats().batched_tokens_total - tokens0, int64_t(b.size()) - 192 + (kMaxTokens - 1));
  EXPECT_EQ(out_b.usage.cached_tokens, 192);
  EXPECT_EQ(out_b.usage.prompt_tokens, int32_t(b.size()));

  EngineConfig off = cfg;
  off.enable_prefix_caching = false;
  RunResult ref = run_requests(test_model("qwen2"), off, {greedy_request("b", b, kMaxTokens)});
  ASSERT_EQ(ref.outputs.size(), 1u);
  EXPECT_EQ(ref.prefix_hits, 0);
  EXPECT_EQ(out_b.ids, ref.outputs[0].ids);
  EXPECT_EQ(out_b.logprobs, ref.outputs[0].logprobs);
  EXPECT_EQ(out_b.ids.size(), size_t(kMaxTokens));
}

// A prompt that is entirely cached still computes its last block (the logits of its last token).
TEST(PrefixCacheEngine, FullyCachedPromptRecomputesLastBlock) {
  const std::vector<int32_t> p = random_prompt(11, 64);
  EngineConfig cfg = small_engine_config();
  auto backend = make_test_backend();
  auto engine = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  Output first = collect(**e.submit(greedy_request("x", p, 4)));
  const int64_t tokens0 = e.stats().batched_tokens_total;
  Output second = collect(**e.submit(greedy_request("y", p, 4)));
  EXPECT_EQ(second.usage.cached_tokens, 48);
  EXPECT_EQ(e.stats().batched_tokens_total - tokens0, 16 + 3);
  EXPECT_EQ(first.ids, second.ids);
  EXPECT_EQ(first.logprobs, second.logprobs);
}

}  // namespace
}  // namespace ds::test
