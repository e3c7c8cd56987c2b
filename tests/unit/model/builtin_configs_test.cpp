#include <gtest/gtest.h>

#include "model/config.h"

namespace ds {
namespace {

struct Expected {
  const char* id;
  const char* arch;
  int64_t hidden, layers, heads, kv, inter, vocab;
  double theta, eps;
  int64_t bos, eos;
};

// ../shared/docs/models.md and the published config.json / generation_config.json files.
const Expected kExpected[] = {
    {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "Qwen2ForCausalLM", 1536, 28, 12, 2, 8960, 151936, 1e4, 1e-6, 151646, 151643},
    {"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "Qwen2ForCausalLM", 3584, 28, 28, 4, 18944, 152064, 1e4, 1e-6, 151646, 151643},
    {"deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "Qwen2ForCausalLM", 5120, 48, 40, 8, 13824, 152064, 1e6, 1e-5, 151646, 151643},
    {"deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "Qwen2ForCausalLM", 5120, 64, 40, 8, 27648, 152064, 1e6, 1e-5, 151646, 151643},
    {"deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "LlamaForCausalLM", 4096, 32, 32, 8, 14336, 128256, 5e5, 1e-5, 128000, 128001},
    {"deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "LlamaForCausalLM", 8192, 80, 64, 8, 28672, 128256, 5e5, 1e-5, 128000, 128001},
};

TEST(BuiltinConfigs, EveryPublishedSize) {
  EXPECT_EQ(builtin_model_ids().size(), std::size(kExpected));
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.id);
    auto c = builtin_model_config(e.id);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const bool qwen = std::string(e.arch) == "Qwen2ForCausalLM";
    EXPECT_EQ(c->architecture, e.arch);
    EXPECT_EQ(c->hidden_size, e.hidden);
    EXPECT_EQ(c->num_hidden_layers, e.layers);
    EXPECT_EQ(c->num_attention_heads, e.heads);
    EXPECT_EQ(c->num_key_value_heads, e.kv);
    EXPECT_EQ(c->head_dim, 128);
    EXPECT_EQ(c->intermediate_size, e.inter);
    EXPECT_EQ(c->vocab_size, e.vocab);
    EXPECT_EQ(c->max_position_embeddings, 131072);
    EXPECT_DOUBLE_EQ(c->rope_theta, e.theta);
    EXPECT_DOUBLE_EQ(c->rms_norm_eps, e.eps);
    EXPECT_EQ(c->bos_token_id, e.bos);
    EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{e.eos});
    EXPECT_EQ(c->attention_bias, qwen);
    EXPECT_FALSE(c->tie_word_embeddings);
    EXPECT_EQ(c->dtype, DType::kBF16);
    EXPECT_EQ(c->rope_scaling.type, qwen ? RopeType::kDefault : RopeType::kLlama3);
    if (!qwen) {
      EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
      EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1.0);
      EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
      EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
    }
  }
}

TEST(BuiltinConfigs, ParamCountsMatchModelNames) {
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Qwen-1.5B")->num_params()), 1.78e9, 0.05e9);
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Qwen-7B")->num_params()), 7.62e9, 0.05e9);
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Qwen-14B")->num_params()), 14.77e9, 0.05e9);
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Qwen-32B")->num_params()), 32.76e9, 0.05e9);
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Llama-8B")->num_params()), 8.03e9, 0.05e9);
  EXPECT_NEAR(double(builtin_model_config("DeepSeek-R1-Distill-Llama-70B")->num_params()), 70.55e9, 0.05e9);
}

TEST(BuiltinConfigs, CaseInsensitiveAndBareName) {
  EXPECT_TRUE(builtin_model_config("DEEPSEEK-AI/deepseek-r1-distill-qwen-7b").ok());
  EXPECT_TRUE(builtin_model_config("DeepSeek-R1-Distill-Llama-8B").ok());
  EXPECT_TRUE(builtin_model_config("deepseek-r1-distill-qwen-1.5b").ok());
  auto bad = builtin_model_config("deepseek-ai/DeepSeek-R1-Distill-Qwen-3B");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kNotFound);
  for (const std::string& id : builtin_model_ids()) {
    EXPECT_NE(bad.status().message().find(id), std::string::npos) << bad.status().message();
  }
  EXPECT_NE(bad.status().message().find("Qwen-3B"), std::string::npos);
  EXPECT_FALSE(builtin_model_config("").ok());
  EXPECT_FALSE(builtin_model_config("deepseek-ai/").ok());
}

}  // namespace
}  // namespace ds
