// config.json -> ModelConfig. Accepts the classic layout (rope_theta, rope_scaling, torch_dtype) and
// the transformers-5 layout (rope_parameters, dtype). Optional fields take Hugging Face's defaults
// for LlamaConfig / Qwen2Config; anything we would silently compute wrong is an error instead.
#include "model/config.h"

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace ds {

namespace {

using nlohmann::json;

constexpr const char* kSupportedArchs = "Qwen2ForCausalLM, LlamaForCausalLM";
constexpr const char* kSupportedRope = "default, llama3";

// Field readers: `src` names the file, errors say "SRC: field 'NAME' ...".
struct Reader {
  const json& j;
  const std::string& src;

  Status error(const std::string& field, const std::string& what) const {
    return invalid_argument(src + ": field '" + field + "' " + what);
  }
  bool has(const char* k) const { return j.contains(k) && !j.at(k).is_null(); }

  Result<int64_t> int_field(const json& obj, const std::string& k) const {
    const json& v = obj.at(k);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {  // e.g. 8192.0; the range check keeps the cast defined
      double d = v.get<double>();
      if (d > -9e18 && d < 9e18 && d == double(int64_t(d))) return int64_t(d);
    }
    return error(k, "must be an integer, got " + v.dump());
  }
  Result<double> num_field(const json& obj, const std::string& k) const {
    const json& v = obj.at(k);
    if (v.is_number()) return v.get<double>();
    return error(k, "must be a number, got " + v.dump());
  }
  Result<int64_t> required_int(const char* k) const {
    if (!has(k)) return invalid_argument(src + ": missing required field '" + k + "'");
    return int_field(j, k);
  }
  Result<int64_t> optional_int(const char* k, int64_t dflt) const { return has(k) ? int_field(j, k) : dflt; }
  Result<double> optional_num(const char* k, double dflt) const { return has(k) ? num_field(j, k) : dflt; }
  Result<bool> optional_bool(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j.at(k).is_boolean()) return error(k, "must be true or false, got " + j.at(k).dump());
    return j.at(k).get<bool>();
  }
};

Result<std::string> parse_architecture(const Reader& r) {
  if (!r.has("architectures")) {
    return invalid_argument(r.src + ": missing required field 'architectures' (supported: " + kSupportedArchs + ")");
  }
  const json& a = r.j.at("architectures");
  if (!a.is_array() || a.empty() || !a[0].is_string()) {
    return r.error("architectures", "must be a non-empty list of strings");
  }
  std::string arch = a[0].get<std::string>();
  if (arch != "Qwen2ForCausalLM" && arch != "LlamaForCausalLM") {
    return unsupported(r.src + ": field 'architectures': unsupported architecture '" + arch +
                       "' (supported: " + kSupportedArchs + ")");
  }
  return arch;
}

Result<DType> parse_dtype_name(const Reader& r) {
  const char* key = r.has("dtype") ? "dtype" : (r.has("torch_dtype") ? "torch_dtype" : nullptr);
  if (key == nullptr) return DType::kBF16;
  const json& v = r.j.at(key);
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s == "bfloat16") return DType::kBF16;
  if (s == "float16") return DType::kF16;
  if (s == "float32") return DType::kF32;
  return unsupported(r.src + ": field '" + key + "': unsupported dtype '" + s +
                     "' (supported: bfloat16, float16, float32)");
}

Status parse_llama3(const Reader& r, const json& rs, const std::string& field, RopeScaling* out) {
  Reader sub{rs, r.src};
  const char* keys[] = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
  for (const char* k : keys) {
    if (!sub.has(k)) return invalid_argument(r.src + ": field '" + field + "." + k + "' is required for llama3 rope");
  }
  DS_ASSIGN_OR_RETURN(out->factor, sub.num_field(rs, "factor"));
  DS_ASSIGN_OR_RETURN(out->low_freq_factor, sub.num_field(rs, "low_freq_factor"));
  DS_ASSIGN_OR_RETURN(out->high_freq_factor, sub.num_field(rs, "high_freq_factor"));
  DS_ASSIGN_OR_RETURN(out->original_max_position_embeddings,
                      sub.int_field(rs, "original_max_position_embeddings"));
  if (out->factor <= 0 || out->low_freq_factor <= 0 || out->high_freq_factor <= out->low_freq_factor ||
      out->original_max_position_embeddings <= 0) {
    return invalid_argument(r.src + ": field '" + field +
                            "': llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                            "original_max_position_embeddings > 0");
  }
  out->type = RopeType::kLlama3;
  return Status::ok();
}

// Classic: rope_theta + rope_scaling {"rope_type"|"type", ...}. transformers 5: rope_parameters
// {"rope_theta", "rope_type", ...}. Either may be absent or null (plain RoPE).
Status parse_rope(const Reader& r, ModelConfig* cfg) {
  DS_ASSIGN_OR_RETURN(cfg->rope_theta, r.optional_num("rope_theta", 10000.0));
  const char* field = r.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!r.has(field)) return Status::ok();
  const json& rs = r.j.at(field);
  if (!rs.is_object()) return r.error(field, "must be an object or null");
  Reader sub{rs, r.src};
  if (sub.has("rope_theta")) {
    DS_ASSIGN_OR_RETURN(cfg->rope_theta, sub.num_field(rs, "rope_theta"));
  }
  const char* tkey = sub.has("rope_type") ? "rope_type" : "type";
  std::string type = "default";
  if (sub.has(tkey)) {
    if (!rs.at(tkey).is_string()) return r.error(std::string(field) + "." + tkey, "must be a string");
    type = rs.at(tkey).get<std::string>();
  }
  if (type == "default") return Status::ok();
  if (type == "llama3") return parse_llama3(r, rs, field, &cfg->rope_scaling);
  return unsupported(r.src + ": field '" + field + "." + tkey + "': unsupported rope type '" + type +
                     "' (supported: " + kSupportedRope + ")");
}

Result<std::vector<int64_t>> parse_token_ids(const Reader& r, const char* k) {
  std::vector<int64_t> ids;
  if (!r.has(k)) return ids;
  const json& v = r.j.at(k);
  if (v.is_number_integer()) return std::vector<int64_t>{v.get<int64_t>()};
  if (!v.is_array()) return r.error(k, "must be an integer or a list of integers");
  for (const json& e : v) {
    if (!e.is_number_integer()) return r.error(k, "must be an integer or a list of integers");
    ids.push_back(e.get<int64_t>());
  }
  return ids;
}

Status parse_shape(const Reader& r, ModelConfig* c) {
  DS_ASSIGN_OR_RETURN(c->hidden_size, r.required_int("hidden_size"));
  DS_ASSIGN_OR_RETURN(c->intermediate_size, r.required_int("intermediate_size"));
  DS_ASSIGN_OR_RETURN(c->num_hidden_layers, r.required_int("num_hidden_layers"));
  DS_ASSIGN_OR_RETURN(c->num_attention_heads, r.required_int("num_attention_heads"));
  DS_ASSIGN_OR_RETURN(c->vocab_size, r.required_int("vocab_size"));
  DS_ASSIGN_OR_RETURN(c->num_key_value_heads, r.optional_int("num_key_value_heads", c->num_attention_heads));
  const int64_t default_max_pos = c->model_type == "qwen2" ? 32768 : 2048;
  DS_ASSIGN_OR_RETURN(c->max_position_embeddings, r.optional_int("max_position_embeddings", default_max_pos));
  DS_ASSIGN_OR_RETURN(c->rms_norm_eps, r.optional_num("rms_norm_eps", 1e-6));
  const std::pair<const char*, int64_t> positive[] = {
      {"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
      {"num_hidden_layers", c->num_hidden_layers}, {"num_attention_heads", c->num_attention_heads},
      {"num_key_value_heads", c->num_key_value_heads}, {"vocab_size", c->vocab_size},
      {"max_position_embeddings", c->max_position_embeddings}};
  for (const auto& [k, v] : positive) {
    if (v <= 0) return r.error(k, "must be positive, got " + std::to_string(v));
  }
  if (!(c->rms_norm_eps > 0)) return r.error("rms_norm_eps", "must be positive");
  if (c->num_attention_heads % c->num_key_value_heads != 0) {
    return r.error("num_attention_heads", "(" + std::to_string(c->num_attention_heads) +
                                              ") must be divisible by num_key_value_heads (" +
                                              std::to_string(c->num_key_value_heads) + ")");
  }
  if (r.has("head_dim")) {
    DS_ASSIGN_OR_RETURN(c->head_dim, r.int_field(r.j, "head_dim"));
    if (c->head_dim <= 0) return r.error("head_dim", "must be positive, got " + std::to_string(c->head_dim));
  } else {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return r.error("hidden_size", "must be divisible by num_attention_heads when head_dim is absent");
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  if (c->head_dim % 2 != 0) return r.error("head_dim", "must be even for rotary embeddings");
  return Status::ok();
}

// Features the generic decoder does not implement; loading them would give wrong outputs.
Status check_unsupported_features(const Reader& r) {
  if (r.has("hidden_act") && r.j.at("hidden_act") != "silu") {
    return unsupported(r.src + ": field 'hidden_act': only 'silu' is supported, got " + r.j.at("hidden_act").dump());
  }
  DS_ASSIGN_OR_RETURN(bool mlp_bias, r.optional_bool("mlp_bias", false));
  if (mlp_bias) return unsupported(r.src + ": field 'mlp_bias': MLP biases are not supported");
  DS_ASSIGN_OR_RETURN(bool sliding, r.optional_bool("use_sliding_window", false));
  if (sliding) return unsupported(r.src + ": field 'use_sliding_window': sliding-window attention is not supported");
  return Status::ok();
}

}  // namespace

Result<ModelConfig> parse_model_config(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return invalid_argument(source + ": not a JSON object");
  Reader r{j, source};
  ModelConfig c;
  DS_ASSIGN_OR_RETURN(c.architecture, parse_architecture(r));
  c.model_type = c.architecture == "Qwen2ForCausalLM" ? "qwen2" : "llama";
  DS_RETURN_IF_ERROR(check_unsupported_features(r));
  DS_RETURN_IF_ERROR(parse_shape(r, &c));
  DS_RETURN_IF_ERROR(parse_rope(r, &c));
  if (!(c.rope_theta > 0)) return r.error("rope_theta", "must be positive");
  DS_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.optional_bool("tie_word_embeddings", false));
  if (c.model_type == "qwen2") {
    c.attention_bias = true;  // Qwen2Attention always builds q/k/v with bias=True
  } else {
    DS_ASSIGN_OR_RETURN(c.attention_bias, r.optional_bool("attention_bias", false));
  }
  DS_ASSIGN_OR_RETURN(c.dtype, parse_dtype_name(r));
  DS_ASSIGN_OR_RETURN(c.bos_token_id, r.optional_int("bos_token_id", -1));
  DS_ASSIGN_OR_RETURN(c.eos_token_ids, parse_token_ids(r, "eos_token_id"));
  return c;
}

Result<ModelConfig> load_model_config(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(path.string() + ": no such file");
  DS_ASSIGN_OR_RETURN(nlohmann::json j, read_json_file(path));
  return parse_model_config(j, path.string());
}

int64_t ModelConfig::num_params() const {
  const int64_t embed = vocab_size * hidden_size;
  const int64_t attn = hidden_size * q_size() + 2 * hidden_size * kv_size() + q_size() * hidden_size +
                       (attention_bias ? q_size() + 2 * kv_size() : 0);
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t layer = attn + mlp + 2 * hidden_size;
  return embed * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + hidden_size;
}

}  // namespace ds
