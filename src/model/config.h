#pragma once
// ModelConfig: the Hugging Face config.json of a supported decoder, reduced to what the engine needs.
// Architectures are data: Qwen2ForCausalLM and LlamaForCausalLM differ only in the feature flags here.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "core/dtype.h"

namespace ds {

enum class RopeType { kDefault, kLlama3 };

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  // llama3 ("rope_type": "llama3"): frequency-dependent scaling of the inverse frequencies.
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "Qwen2ForCausalLM" | "LlamaForCausalLM"
  std::string model_type;    // "qwen2" | "llama"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // config's head_dim when present, else hidden_size / num_attention_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry a bias (Qwen2: always)
  DType dtype = DType::kBF16;   // torch_dtype / dtype of the checkpoint
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  int64_t q_size() const { return num_attention_heads * head_dim; }
  int64_t kv_size() const { return num_key_value_heads * head_dim; }
  // Number of parameters (embedding and lm_head counted separately unless tied).
  int64_t num_params() const;
};

// Parses a config.json object. `source` names the file in error messages.
Result<ModelConfig> parse_model_config(const nlohmann::json& j, const std::string& source);
Result<ModelConfig> load_model_config(const std::filesystem::path& model_dir);

// Built-in configs of the published DeepSeek-R1-Distill models (../shared/docs/models.md), keyed by
// Hugging Face id, e.g. "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B". Used by --load-format dummy.
Result<ModelConfig> builtin_model_config(const std::string& model_id);
std::vector<std::string> builtin_model_ids();

}  // namespace ds
