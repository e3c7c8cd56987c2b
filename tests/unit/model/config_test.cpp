#include "model/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model_test_util.h"

namespace ds {
namespace {

using nlohmann::json;
using test::TempDir;

// The published DeepSeek-R1-Distill-Qwen-7B config.json (classic layout).
json qwen7b_classic() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
    "intermediate_size": 18944, "max_position_embeddings": 131072, "max_window_layers": 28,
    "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06, "rope_theta": 10000, "sliding_window": 4096, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.44.0", "use_cache": true, "use_mrope": false,
    "use_sliding_window": false, "vocab_size": 152064})");
}

// The same model as transformers 5 writes it.
json qwen7b_v5() {
  json j = qwen7b_classic();
  j.erase("rope_theta");
  j.erase("torch_dtype");
  j["dtype"] = "bfloat16";
  j["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}};
  return j;
}

json llama8b_classic() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072,
    "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})");
}

json llama8b_v5() {
  json j = llama8b_classic();
  json rp = j["rope_scaling"];
  rp["rope_theta"] = 500000.0;
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j.erase("torch_dtype");
  j["rope_parameters"] = rp;
  j["dtype"] = "bfloat16";
  j["eos_token_id"] = json::array({128001, 128008, 128009});
  return j;
}

void expect_qwen7b(const ModelConfig& c) {
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.intermediate_size, 18944);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeType::kDefault);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_EQ(c.dtype, DType::kBF16);
  EXPECT_EQ(c.bos_token_id, 151643);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151643});
  EXPECT_EQ(c.q_size(), 3584);
  EXPECT_EQ(c.kv_size(), 512);
}

void expect_llama8b(const ModelConfig& c) {
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeType::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.dtype, DType::kBF16);
}

TEST(ModelConfig, Qwen2ClassicLayout) {
  auto c = parse_model_config(qwen7b_classic(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  expect_qwen7b(*c);
  EXPECT_GT(c->num_params(), int64_t(7e9));
  EXPECT_LT(c->num_params(), int64_t(8e9));
}

TEST(ModelConfig, Qwen2Transformers5Layout) {
  auto c = parse_model_config(qwen7b_v5(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  expect_qwen7b(*c);
}

TEST(ModelConfig, LlamaClassicLayoutLlama3Rope) {
  auto c = parse_model_config(llama8b_classic(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  expect_llama8b(*c);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{128001});
  EXPECT_GT(c->num_params(), int64_t(8e9));
  EXPECT_LT(c->num_params(), int64_t(8.1e9));
}

TEST(ModelConfig, LlamaTransformers5LayoutEosList) {
  auto c = parse_model_config(llama8b_v5(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  expect_llama8b(*c);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
}

TEST(ModelConfig, RopeScalingTypeKeyAndNull) {
  json j = llama8b_classic();
  j["rope_scaling"].erase("rope_type");
  j["rope_scaling"]["type"] = "llama3";
  auto c = parse_model_config(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->rope_scaling.type, RopeType::kLlama3);
  j["rope_scaling"] = nullptr;
  c = parse_model_config(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->rope_scaling.type, RopeType::kDefault);
}

TEST(ModelConfig, HeadDimExplicitAndDefaults) {
  json j = llama8b_classic();
  j["head_dim"] = 64;
  j.erase("num_key_value_heads");
  j.erase("tie_word_embeddings");
  j.erase("attention_bias");
  auto c = parse_model_config(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->q_size(), 32 * 64);
  EXPECT_EQ(c->num_key_value_heads, 32);  // HF: defaults to num_attention_heads
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  j["attention_bias"] = true;
  c = parse_model_config(j, "config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->attention_bias);
}

void expect_error(const json& j, const std::vector<std::string>& parts) {
  auto c = parse_model_config(j, "/m/config.json");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("/m/config.json"), std::string::npos) << m;
  for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST(ModelConfig, Errors) {
  json j = qwen7b_classic();
  j.erase("hidden_size");
  expect_error(j, {"hidden_size", "missing"});
  j = qwen7b_classic();
  j["architectures"] = {"MistralForCausalLM"};
  expect_error(j, {"MistralForCausalLM", "Qwen2ForCausalLM", "LlamaForCausalLM"});
  for (const char* type : {"yarn", "dynamic", "linear", "su"}) {
    j = llama8b_classic();
    j["rope_scaling"]["rope_type"] = type;
    expect_error(j, {type, "rope_scaling", "llama3", "default"});
    j = llama8b_v5();
    j["rope_parameters"]["rope_type"] = type;
    expect_error(j, {type, "rope_parameters"});
  }
  j = qwen7b_classic();
  j["num_key_value_heads"] = 3;
  expect_error(j, {"num_attention_heads", "divisible", "num_key_value_heads"});
  j = qwen7b_classic();
  j["num_hidden_layers"] = 0;
  expect_error(j, {"num_hidden_layers", "positive"});
  j = qwen7b_classic();
  j["vocab_size"] = -5;
  expect_error(j, {"vocab_size"});
  j = qwen7b_classic();
  j["hidden_size"] = "big";
  expect_error(j, {"hidden_size", "integer"});
  j = qwen7b_classic();
  j["torch_dtype"] = "float8_e4m3fn";
  expect_error(j, {"torch_dtype", "float8_e4m3fn"});
  j = llama8b_classic();
  j["rope_scaling"].erase("factor");
  expect_error(j, {"rope_scaling.factor"});
  j = qwen7b_classic();
  j["use_sliding_window"] = true;
  expect_error(j, {"use_sliding_window"});
  j = qwen7b_classic();
  j["eos_token_id"] = "x";
  expect_error(j, {"eos_token_id"});
  j = qwen7b_classic();
  j.erase("architectures");
  expect_error(j, {"architectures"});
  expect_error(json::array(), {"object"});
}

TEST(ModelConfig, LoadFromFolder) {
  TempDir dir;
  auto missing = load_model_config(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("config.json"), std::string::npos);
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  test::write_file(dir.path() / "config.json", "{\"architectures\": [");
  auto bad = load_model_config(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("config.json"), std::string::npos);
  test::write_file(dir.path() / "config.json", qwen7b_classic().dump());
  auto c = load_model_config(dir.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  expect_qwen7b(*c);
}

TEST(ModelConfig, Stories260k) {
  auto c = load_model_config(DS_SHARED_DIR "/models/stories260k");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_hidden_layers, 5);
  EXPECT_EQ(c->num_attention_heads, 8);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->intermediate_size, 172);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->dtype, DType::kF32);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{2});
}

}  // namespace
}  // namespace ds
