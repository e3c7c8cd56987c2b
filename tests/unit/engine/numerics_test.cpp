// The engine against Hugging Face transformers (float32, eager attention): two random-weight
// models in the published layout (bf16, sharded + index), three prompts each (one > 100 tokens),
// 24 greedy steps. Goldens: tests/data/numerics/goldens.json, made by make_goldens.py on the GPU
// machine; the models are regenerated bit-identically by make_models.py (CTest fixture).
#include "engine_harness.h"

namespace ds::test {
namespace {

// kv: the CPU's KV cache dtype; 16-bit caches are held to kHalfKvGoldenTol.
void check_model(const std::string& name, DType kv = DType::kF32) {
  const nlohmann::json g = numerics_goldens();
  const auto& cases = g["models"][name]["cases"];
  ASSERT_EQ(cases.size(), 3u);
  std::vector<EngineRequest> reqs;
  for (const auto& c : cases) {
    reqs.push_back(greedy_request(std::to_string(reqs.size()), c["prompt_ids"].get<std::vector<int32_t>>(),
                                  int32_t(c["steps"].size())));
  }
  EngineConfig cfg = small_engine_config();
  cfg.scheduler.max_num_batched_tokens = 48;  // chunked prefill over cached blocks too
  cfg.scheduler.max_num_seqs = 8;
  RunResult r = run_requests(test_model(name), cfg, reqs, /*alone=*/false, kv);
  const double tol = kv == DType::kF32 ? kGoldenLogprobTol : kHalfKvGoldenTol;
  double worst = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string what = name + " prompt " + std::to_string(i);
    worst = std::max(worst, expect_matches_golden(r.outputs[i], cases[i], what, tol, tol));
  }
#ifdef DS_TEST_CUDA
  const std::string kv_name = "bfloat16 (CUDA)";
#else
  const std::string kv_name(dtype_name(kv));
#endif
  std::printf("%s, %s KV cache: max |logprob - HF| = %.3g\n", name.c_str(), kv_name.c_str(), worst);
}

TEST(Numerics, Qwen2MatchesTransformers) { check_model("qwen2"); }
TEST(Numerics, Llama3MatchesTransformers) { check_model("llama3"); }
#ifndef DS_TEST_CUDA
// --kv-cache-dtype bfloat16 / float16 on the CPU.
TEST(Numerics, Qwen2Bf16KvCacheWithinBf16Bound) { check_model("qwen2", DType::kBF16); }
TEST(Numerics, Llama3F16KvCacheWithinBf16Bound) { check_model("llama3", DType::kF16); }
#endif

}  // namespace
}  // namespace ds::test
