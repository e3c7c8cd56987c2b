// The published config.json of every DeepSeek-R1-Distill model (../shared/docs/models.md), kept as
// JSON and run through the same parser as files on disk, so --load-format dummy and real checkpoints
// can never disagree on what a field means.
#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace ds {

namespace {

using nlohmann::json;

struct BuiltinModel {
  const char* id;
  json config;  // the fields of the published config.json that ModelConfig reads
  // generation_config.json token ids. For the Qwen distills config.json says bos 151643, but the
  // tokenizer and generation_config use 151646 (<｜begin▁of▁sentence｜>); we trust the tokenizer.
  int64_t bos;
  int64_t eos;
};

json qwen2(int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv, int64_t vocab,
           double eps, double theta) {
  return json{{"architectures", json::array({"Qwen2ForCausalLM"})},
              {"model_type", "qwen2"},
              {"hidden_act", "silu"},
              {"hidden_size", hidden},
              {"intermediate_size", inter},
              {"num_hidden_layers", layers},
              {"num_attention_heads", heads},
              {"num_key_value_heads", kv},
              {"vocab_size", vocab},
              {"max_position_embeddings", 131072},
              {"rms_norm_eps", eps},
              {"rope_theta", theta},
              {"sliding_window", 4096},
              {"use_sliding_window", false},
              {"tie_word_embeddings", false},
              {"torch_dtype", "bfloat16"},
              {"bos_token_id", 151643},
              {"eos_token_id", 151643}};
}

json llama(int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv) {
  return json{{"architectures", json::array({"LlamaForCausalLM"})},
              {"model_type", "llama"},
              {"hidden_act", "silu"},
              {"hidden_size", hidden},
              {"intermediate_size", inter},
              {"num_hidden_layers", layers},
              {"num_attention_heads", heads},
              {"num_key_value_heads", kv},
              {"vocab_size", 128256},
              {"max_position_embeddings", 131072},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 500000.0},
              {"rope_scaling",
               {{"factor", 8.0},
                {"low_freq_factor", 1.0},
                {"high_freq_factor", 4.0},
                {"original_max_position_embeddings", 8192},
                {"rope_type", "llama3"}}},
              {"attention_bias", false},
              {"mlp_bias", false},
              {"tie_word_embeddings", false},
              {"torch_dtype", "bfloat16"},
              {"bos_token_id", 128000},
              {"eos_token_id", 128001}};
}

const std::vector<BuiltinModel>& builtin_models() {
  static const std::vector<BuiltinModel> kModels = {
      {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", qwen2(1536, 8960, 28, 12, 2, 151936, 1e-6, 10000.0),
       151646, 151643},
      {"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", qwen2(3584, 18944, 28, 28, 4, 152064, 1e-6, 10000.0),
       151646, 151643},
      {"deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", qwen2(5120, 13824, 48, 40, 8, 152064, 1e-5, 1000000.0),
       151646, 151643},
      {"deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", qwen2(5120, 27648, 64, 40, 8, 152064, 1e-5, 1000000.0),
       151646, 151643},
      {"deepseek-ai/DeepSeek-R1-Distill-Llama-8B", llama(4096, 14336, 32, 32, 8), 128000, 128001},
      {"deepseek-ai/DeepSeek-R1-Distill-Llama-70B", llama(8192, 28672, 80, 64, 8), 128000, 128001},
  };
  return kModels;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

std::vector<std::string> builtin_model_ids() {
  std::vector<std::string> ids;
  for (const BuiltinModel& m : builtin_models()) ids.push_back(m.id);
  return ids;
}

Result<ModelConfig> builtin_model_config(const std::string& model_id) {
  const std::string want = lower(model_id);
  const std::string org = "deepseek-ai/";
  for (const BuiltinModel& m : builtin_models()) {
    const std::string id = lower(m.id);
    if (want != id && want != id.substr(org.size())) continue;
    DS_ASSIGN_OR_RETURN(ModelConfig cfg, parse_model_config(m.config, std::string(m.id) + " (built-in config)"));
    cfg.bos_token_id = m.bos;
    cfg.eos_token_ids = {m.eos};
    return cfg;
  }
  std::string known;
  for (const BuiltinModel& m : builtin_models()) known += (known.empty() ? "" : ", ") + std::string(m.id);
  return not_found("unknown built-in model '" + model_id + "' (known: " + known + ")");
}

}  // namespace ds
