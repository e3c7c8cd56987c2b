// Abort (a running request ends with finish abort, its blocks are freed, the engine keeps serving)
// and submit()/create() validation (user errors come back as a Status with a clear message).
#include <random>
#include <thread>

#include "engine_harness.h"

namespace ds::test {
namespace {

bool wait_for_kv_usage_zero(const Engine& e, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (e.stats().kv_cache_usage == 0.0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return e.stats().kv_cache_usage == 0.0;
}

void check_abort(bool prefix_caching) {
  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = prefix_caching;
  auto backend = make_test_backend();
  auto created = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_TRUE(created.ok()) << created.status().message();
  Engine& e = **created;

  auto s = e.submit(greedy_request("long", random_prompt(5, 100), 900));
  ASSERT_TRUE(s.ok()) << s.status().message();
  StreamEvent first;
  ASSERT_TRUE((*s)->next(first, std::chrono::seconds(60)));
  EXPECT_FALSE(first.done);
  EXPECT_GT(e.stats().kv_cache_usage, 0.0);
  e.abort("long");
  std::vector<StreamEvent> rest = drain_events(**s);
  ASSERT_FALSE(rest.empty());
  ASSERT_TRUE(rest.back().finish_reason.has_value());
  EXPECT_EQ(*rest.back().finish_reason, FinishReason::kAbort);
  EXPECT_TRUE(rest.back().done);
  size_t generated = first.token_ids.size();
  for (const auto& ev : rest) generated += ev.token_ids.size();
  EXPECT_LT(generated, 900u);
  EXPECT_TRUE(wait_for_kv_usage_zero(e, std::chrono::milliseconds(2000))) << e.stats().kv_cache_usage;
  EXPECT_EQ(e.stats().finished_abort, 1);
  EXPECT_EQ(e.stats().num_running + e.stats().num_waiting + e.stats().num_swapped, 0);

  // Still serves, and correctly.
  const EngineRequest next = greedy_request("next", random_prompt(6, 40), 6);
  auto s2 = e.submit(next);
  ASSERT_TRUE(s2.ok());
  Output got = collect(**s2);
  RunResult ref = run_requests(test_model("qwen2"), small_engine_config(), {next});
  EXPECT_EQ(got.ids, ref.outputs[0].ids);
  EXPECT_EQ(got.logprobs, ref.outputs[0].logprobs);
  EXPECT_EQ(got.finish, "length");
  e.abort("next");  // finished: no effect
  e.abort("never-submitted");
  EXPECT_TRUE(wait_for_kv_usage_zero(e, std::chrono::milliseconds(2000)));
}

TEST(EngineAbort, RunningRequestFreesBlocksAndEngineKeepsServing) { check_abort(true); }
TEST(EngineAbort, WithoutPrefixCaching) { check_abort(false); }

TEST(EngineAbort, WaitingRequestAndNChoices) {
  EngineConfig cfg = small_engine_config();
  cfg.scheduler.max_num_seqs = 1;  // the second request waits behind the first
  auto backend = make_test_backend();
  auto created = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_TRUE(created.ok());
  Engine& e = **created;
  EngineRequest a = greedy_request("a", random_prompt(7, 30), 400);
  EngineRequest b = greedy_request("b", random_prompt(8, 30), 400);
  b.params.n = 3;
  auto sa = e.submit(a);
  auto sb = e.submit(b);
  ASSERT_TRUE(sa.ok() && sb.ok());
  StreamEvent ev;
  ASSERT_TRUE((*sa)->next(ev, std::chrono::seconds(60)));
  e.abort("b");
  e.abort("a");
  std::vector<StreamEvent> eb = drain_events(**sb);
  int aborted = 0;
  for (const auto& x : eb) aborted += x.finish_reason == FinishReason::kAbort ? 1 : 0;
  EXPECT_EQ(aborted, 3);  // every choice
  EXPECT_TRUE(eb.back().done);
  std::vector<StreamEvent> ea = drain_events(**sa);
  EXPECT_EQ(ea.back().finish_reason, FinishReason::kAbort);
  EXPECT_TRUE(wait_for_kv_usage_zero(e, std::chrono::milliseconds(2000)));
}

// --- validation ---

class EngineValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = make_test_backend();
    EngineConfig cfg = small_engine_config();
    cfg.max_model_len = 256;
    auto e = Engine::create(cfg, test_model("qwen2"), *backend_);
    ASSERT_TRUE(e.ok()) << e.status().message();
    engine_ = std::move(*e);
  }
  std::string reject(EngineRequest r) {
    auto s = engine_->submit(std::move(r));
    EXPECT_FALSE(s.ok());
    return s.ok() ? "" : s.status().message();
  }
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineValidation, EmptyPrompt) {
  EXPECT_NE(reject(greedy_request("x", {}, 4)).find("empty"), std::string::npos);
}

TEST_F(EngineValidation, OutOfVocabularyIds) {
  EXPECT_NE(reject(greedy_request("x", {1, 2, 151936}, 4)).find("151936"), std::string::npos);
  EXPECT_NE(reject(greedy_request("x", {-1}, 4)).find("vocabulary"), std::string::npos);
}

TEST_F(EngineValidation, PromptPlusMaxTokensBeyondContext) {
  const std::string m = reject(greedy_request("x", std::vector<int32_t>(200, 5), 57));
  EXPECT_NE(m.find("maximum context length is 256"), std::string::npos) << m;
  // Exactly at the limit is fine.
  auto ok = engine_->submit(greedy_request("y", std::vector<int32_t>(200, 5), 56));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(collect(**ok).ids.size(), 56u);
  EXPECT_NE(reject(greedy_request("z", std::vector<int32_t>(257, 5), 1)).find("context length"), std::string::npos);
}

TEST_F(EngineValidation, InvalidSamplingParams) {
  EngineRequest r = greedy_request("x", {1, 2, 3}, 4);
  r.params.top_p = 0;
  EXPECT_NE(reject(r).find("top_p"), std::string::npos);
  r = greedy_request("x", {1, 2, 3}, 4);
  r.params.max_tokens = 0;
  EXPECT_NE(reject(r).find("max_tokens"), std::string::npos);
  r = greedy_request("x", {1, 2, 3}, 4);
  r.params.n = 0;
  EXPECT_NE(reject(r).find("n must"), std::string::npos);
  r = greedy_request("x", {1, 2, 3}, 4);
  r.params.stop_token_ids = {200000};
  EXPECT_NE(reject(r).find("stop_token_ids"), std::string::npos);
  r = greedy_request("x", {1, 2, 3}, 4);
  r.params.temperature = -1;
  EXPECT_NE(reject(r).find("temperature"), std::string::npos);
}

TEST(EngineCreate, RejectsMaxModelLenBeyondKvCapacity) {
  auto backend = make_test_backend();
  EngineConfig cfg = small_engine_config();
  cfg.num_kv_blocks = 4;  // 64 tokens
  cfg.max_model_len = 100;
  auto e = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("KV cache"), std::string::npos) << e.status().message();
  cfg.max_model_len = 64;
  EXPECT_TRUE(Engine::create(cfg, test_model("qwen2"), *backend).ok());
  cfg.max_model_len = 0;  // default: what fits
  auto d = Engine::create(cfg, test_model("qwen2"), *backend);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->max_model_len(), 64);
}

TEST(EngineCreate, RejectsBadSchedulerBudgets) {
  auto backend = make_test_backend();
  EngineConfig cfg = small_engine_config();
  cfg.scheduler.max_num_seqs = 64;
  cfg.scheduler.max_num_batched_tokens = 32;
  EXPECT_FALSE(Engine::create(cfg, test_model("qwen2"), *backend).ok());
  cfg = small_engine_config();
  cfg.scheduler.max_num_seqs = 0;
  EXPECT_FALSE(Engine::create(cfg, test_model("qwen2"), *backend).ok());
}

}  // namespace
}  // namespace ds::test
