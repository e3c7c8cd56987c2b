// The decoder against Hugging Face transformers (float32, eager attention): two random-weight
// models in the published layout (bf16, sharded + index), three prompts each (one > 100 tokens),
// 24 greedy steps. Goldens: tests/data/numerics/goldens.json, made by make_goldens.py on the GPU
// machine; the models are regenerated bit-identically by make_models.py (CTest fixture).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "runtime/generator.h"
#include "runtime/loaded_model.h"

namespace ds {
namespace {

constexpr double kLogprobTol = 1e-3;  // the acceptance bound
constexpr double kTieGap = 1e-3;      // HF top-2 logits closer than this may legitimately swap

nlohmann::json goldens() {
  std::ifstream in(DS_SOURCE_DIR "/tests/data/numerics/goldens.json");
  EXPECT_TRUE(in.good()) << "missing tests/data/numerics/goldens.json";
  return nlohmann::json::parse(in);
}

void check_model(const std::string& name) {
  const nlohmann::json g = goldens();
  ModelSource src;
  src.model = std::string(DS_BINARY_DIR) + "/test_models/" + name;
  auto m = load_model(src);
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto backend = make_cpu_backend({});
  const auto& cases = g["models"][name]["cases"];
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    GenerateRequest req;
    req.prompt_ids = c["prompt_ids"].get<std::vector<int32_t>>();
    req.max_tokens = int32_t(c["steps"].size());
    req.sampling.temperature = 0;
    // Small prefill chunks so chunked prefill over cached blocks is exercised too.
    Generator gen((*m)->config, (*m)->weights, *backend, 256, 48, 16);
    GenerateResult r = gen.generate(req);
    ASSERT_EQ(r.output_ids.size(), c["steps"].size());
    for (size_t s = 0; s < r.output_ids.size(); ++s) {
      const auto& want = c["steps"][s];
      if (r.output_ids[s] != want["id"].get<int32_t>()) {
        EXPECT_LT(want["top2_gap"].get<double>(), kTieGap)
            << name << " prompt len " << req.prompt_ids.size() << " step " << s << ": got id " << r.output_ids[s]
            << " want " << want["id"] << " (HF top-2 gap " << want["top2_gap"] << ")";
        break;  // the continuations legitimately diverge after a near-tie
      }
      EXPECT_NEAR(r.tokens[s].logprob, want["logprob"].get<double>(), kLogprobTol)
          << name << " prompt len " << req.prompt_ids.size() << " step " << s;
    }
  }
}

TEST(Numerics, Qwen2MatchesTransformers) { check_model("qwen2"); }
TEST(Numerics, Llama3MatchesTransformers) { check_model("llama3"); }

}  // namespace
}  // namespace ds
