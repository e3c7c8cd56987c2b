// Batch invariance: 32 greedy requests of mixed lengths (1..300 tokens, several sharing long
// prefixes, the 3 Hugging Face golden prompts among them) submitted together give bit-identical
// token ids and logprobs to each request run alone, under every scheduling regime the engine has:
// prefix caching on/off, small chunked prefill, KV shortage with preemption by recompute and by swap.
// Also prompts of 513-1,000 tokens (CPU attention in chunks of keys), and a bfloat16 KV cache (CPU).
// The CPU matmul and attention sum every output element in an order independent of the batch, so
// equality is exact. The golden prompts also match transformers (numerics_test.cpp's tie rule).
// The same file builds test_gpu_engine (tests/gpu, DS_TEST_CUDA): the CUDA backend in batch-invariant
// mode, where the same equalities must hold exactly and the goldens within the bf16 tolerance.
#include <random>

#include "engine_harness.h"

namespace ds::test {
namespace {

constexpr int32_t kNumPrompts = 32;

struct Workload {
  std::vector<EngineRequest> reqs;
  nlohmann::json golden_cases;  // reqs[0..2] are these prompts
};

std::vector<int32_t> random_ids(std::mt19937& rng, int32_t n) {
  std::uniform_int_distribution<int32_t> d(0, 150000);  // inside qwen2's vocabulary (151936)
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<int32_t> head(const std::vector<int32_t>& a, size_t n) { return {a.begin(), a.begin() + long(n)}; }

const Workload& workload() {
  static const Workload w = [] {
    Workload w;
    const nlohmann::json g = numerics_goldens();
    w.golden_cases = g["models"]["qwen2"]["cases"];
    std::vector<std::vector<int32_t>> prompts;
    for (const auto& c : w.golden_cases) prompts.push_back(c["prompt_ids"].get<std::vector<int32_t>>());
    std::mt19937 rng(1234);
    // Shared prefixes: a 200-token "system prompt" and the 131-token golden prompt.
    const std::vector<int32_t> sys = random_ids(rng, 200);
    const std::vector<int32_t>& g2 = prompts[2];
    prompts.push_back(sys);                                   // 200: the prefix itself
    prompts.push_back(concat(sys, random_ids(rng, 1)));       // 201
    prompts.push_back(concat(sys, random_ids(rng, 10)));      // 210
    prompts.push_back(concat(sys, random_ids(rng, 50)));      // 250
    prompts.push_back(concat(sys, random_ids(rng, 100)));     // 300
    prompts.push_back(concat(head(sys, 64), random_ids(rng, 36)));    // 100, 4 shared blocks
    prompts.push_back(concat(head(sys, 160), random_ids(rng, 20)));   // 180
    prompts.push_back(concat(head(sys, 100), random_ids(rng, 28)));   // 128, block-aligned
    prompts.push_back(concat(g2, random_ids(rng, 20)));       // 151
    prompts.push_back(concat(g2, random_ids(rng, 100)));      // 231
    prompts.push_back(concat(head(g2, 48), random_ids(rng, 3)));  // 51
    for (int32_t n : {1, 2, 3, 15, 16, 17, 31, 32, 33, 47, 64, 65, 127, 129, 255, 256, 257, 299})
      prompts.push_back(random_ids(rng, n));
    DS_CHECK_EQ(int32_t(prompts.size()), kNumPrompts);
    for (size_t i = 0; i < prompts.size(); ++i) {
      const int32_t max_tokens = i < 3 ? int32_t(w.golden_cases[i]["steps"].size()) : 16 + int32_t(i % 9);
      w.reqs.push_back(greedy_request("r" + std::to_string(i), prompts[i], max_tokens));
    }
    return w;
  }();
  return w;
}

// Each request alone on one engine (prefix caching off), one after another; kv: the CPU's KV cache
// dtype (float32, or bfloat16 as --kv-cache-dtype bfloat16 gives).
RunResult run_alone(DType kv) {
  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = false;
  return run_requests(test_model("qwen2"), cfg, workload().reqs, /*alone=*/true, kv);
}
const RunResult& reference(DType kv = DType::kF32) {
  static const RunResult f32 = run_alone(DType::kF32);
  if (kv == DType::kF32) return f32;
  DS_CHECK(kv == DType::kBF16);
  static const RunResult bf16 = run_alone(DType::kBF16);
  return bf16;
}

RunResult run_batched_and_compare(const EngineConfig& cfg, const std::string& what, DType kv = DType::kF32) {
  const Workload& w = workload();
  const RunResult& ref = reference(kv);
  const double tol = kv == DType::kF32 ? kGoldenLogprobTol : kHalfKvGoldenTol;
  RunResult r = run_requests(test_model("qwen2"), cfg, w.reqs, /*alone=*/false, kv);
  EXPECT_EQ(r.outputs.size(), ref.outputs.size());
  for (size_t i = 0; i < std::min(r.outputs.size(), ref.outputs.size()); ++i) {
    const std::string name = what + " request " + std::to_string(i) + " (prompt " +
                             std::to_string(w.reqs[i].prompt_ids.size()) + " tokens)";
    EXPECT_EQ(r.outputs[i].ids.size(), size_t(w.reqs[i].params.max_tokens)) << name;
    EXPECT_EQ(r.outputs[i].ids, ref.outputs[i].ids) << name;
    EXPECT_EQ(r.outputs[i].logprobs, ref.outputs[i].logprobs) << name;  // bit-identical
    EXPECT_EQ(r.outputs[i].finish, "length") << name;
  }
  for (size_t i = 0; i < 3 && i < r.outputs.size(); ++i)
    expect_matches_golden(r.outputs[i], w.golden_cases[i], what + " golden prompt " + std::to_string(i), tol, tol);
  std::printf("%s: %lld preemptions, %lld prefix-cache hit tokens, %lld batched tokens\n", what.c_str(),
              (long long)r.preemptions, (long long)r.prefix_hits, (long long)r.batched_tokens);
  return r;
}

TEST(BatchInvariance, ReferenceAloneMatchesGoldens) {
  const Workload& w = workload();
  const RunResult& ref = reference();
  ASSERT_EQ(ref.outputs.size(), size_t(kNumPrompts));
  for (size_t i = 0; i < 3; ++i) expect_matches_golden(ref.outputs[i], w.golden_cases[i], "alone golden " + std::to_string(i));
  EXPECT_EQ(ref.prefix_hits, 0);
  EXPECT_EQ(ref.preemptions, 0);
}

TEST(BatchInvariance, PrefixCachingOn) {
  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = true;
  RunResult r = run_batched_and_compare(cfg, "prefix caching on");
  EXPECT_GT(r.prefix_hits, 0);
  EXPECT_EQ(r.preemptions, 0);
}

TEST(BatchInvariance, PrefixCachingOff) {
  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = false;
  RunResult r = run_batched_and_compare(cfg, "prefix caching off");
  EXPECT_EQ(r.prefix_hits, 0);
  EXPECT_EQ(r.preemptions, 0);
  // Nothing reused: every prompt token and every generated token but the last is computed once.
  int64_t want = 0;
  for (const auto& q : workload().reqs) want += int64_t(q.prompt_ids.size()) + q.params.max_tokens - 1;
  EXPECT_EQ(r.batched_tokens, want);
}

TEST(BatchInvariance, ChunkedPrefill64) {
  EngineConfig cfg = small_engine_config();
  cfg.scheduler.max_num_batched_tokens = 64;
  cfg.scheduler.max_num_seqs = 64;
  RunResult r = run_batched_and_compare(cfg, "max_num_batched_tokens 64");
  EXPECT_GT(r.prefix_hits, 0);
}

EngineConfig shortage_config(PreemptionMode mode) {
  EngineConfig cfg = small_engine_config();
  cfg.max_model_len = 336;  // longest request: 300 + 24 tokens
  cfg.num_kv_blocks = 40;  // 640 tokens for ~5000 tokens of requests
  cfg.scheduler.preemption_mode = mode;
  cfg.swap_space_gib = mode == PreemptionMode::kSwap ? 1.0 : 0.0;
  return cfg;
}

TEST(BatchInvariance, KvShortagePreemptByRecompute) {
  RunResult r = run_batched_and_compare(shortage_config(PreemptionMode::kRecompute), "shortage, recompute");
  EXPECT_GT(r.preemptions, 0);
}

TEST(BatchInvariance, KvShortagePreemptBySwap) {
  RunResult r = run_batched_and_compare(shortage_config(PreemptionMode::kSwap), "shortage, swap");
  EXPECT_GT(r.preemptions, 0);
}

TEST(BatchInvariance, KvShortageRecomputeWithoutPrefixCaching) {
  EngineConfig cfg = shortage_config(PreemptionMode::kRecompute);
  cfg.enable_prefix_caching = false;
  RunResult r = run_batched_and_compare(cfg, "shortage, recompute, no prefix caching");
  EXPECT_GT(r.preemptions, 0);
  EXPECT_EQ(r.prefix_hits, 0);
}

// Contexts past 512 keys, where CPU attention goes a chunk of keys at a time: prompts of 600-1000
// tokens alone and batched with chunked prefill (prefill rows at every context length, decode rows
// after) give the same bits.
TEST(BatchInvariance, LongContexts) {
  std::vector<EngineRequest> reqs;
  int32_t i = 0;
  for (int32_t n : {1000, 600, 513, 20, 777}) {
    reqs.push_back(greedy_request("long" + std::to_string(i), random_prompt(uint32_t(100 + i), n), 12));
    ++i;
  }
  EngineConfig cfg = small_engine_config();
  cfg.enable_prefix_caching = false;
  const RunResult alone = run_requests(test_model("qwen2"), cfg, reqs, /*alone=*/true);
  cfg.scheduler.max_num_batched_tokens = 200;
  const RunResult batched = run_requests(test_model("qwen2"), cfg, reqs);
  ASSERT_EQ(batched.outputs.size(), reqs.size());
  for (size_t r = 0; r < reqs.size(); ++r) {
    EXPECT_EQ(batched.outputs[r].ids.size(), 12u) << r;
    EXPECT_EQ(batched.outputs[r].ids, alone.outputs[r].ids) << r;
    EXPECT_EQ(batched.outputs[r].logprobs, alone.outputs[r].logprobs) << r;
  }
}

#ifndef DS_TEST_CUDA
// A bfloat16 KV cache (2-byte elements through chunked prefill over cached blocks, prefix sharing
// and swapping out and in): the same exact equalities, the goldens within the bf16 bound.
TEST(BatchInvariance, Bf16KvCacheChunkedPrefill64) {
  EngineConfig cfg = small_engine_config();
  cfg.scheduler.max_num_batched_tokens = 64;
  RunResult r = run_batched_and_compare(cfg, "bf16 KV, max_num_batched_tokens 64", DType::kBF16);
  EXPECT_GT(r.prefix_hits, 0);
  const RunResult& alone = reference(DType::kBF16);
  for (size_t i = 0; i < 3; ++i)
    expect_matches_golden(alone.outputs[i], workload().golden_cases[i], "bf16 KV alone golden " + std::to_string(i),
                          kHalfKvGoldenTol, kHalfKvGoldenTol);
}

TEST(BatchInvariance, Bf16KvCacheShortagePreemptBySwap) {
  RunResult r =
      run_batched_and_compare(shortage_config(PreemptionMode::kSwap), "bf16 KV, shortage, swap", DType::kBF16);
  EXPECT_GT(r.preemptions, 0);
}
#endif

}  // namespace
}  // namespace ds::test
