#include "model/weight_layout.h"

namespace ds {

namespace {

void add_layer_specs(const ModelConfig& c, int64_t i, LayerWeights* l, std::vector<WeightSpec>* out) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), f = c.intermediate_size;
  auto add = [&](const std::string& n, std::vector<int64_t> shape, WeightKind k, Tensor* slot) {
    out->push_back(WeightSpec{p + n, std::move(shape), k, slot});
  };
  add("input_layernorm.weight", {h}, WeightKind::kNorm, &l->input_layernorm);
  add("self_attn.q_proj.weight", {q, h}, WeightKind::kMatrix, &l->q_proj);
  add("self_attn.k_proj.weight", {kv, h}, WeightKind::kMatrix, &l->k_proj);
  add("self_attn.v_proj.weight", {kv, h}, WeightKind::kMatrix, &l->v_proj);
  if (c.attention_bias) {
    add("self_attn.q_proj.bias", {q}, WeightKind::kBias, &l->q_bias);
    add("self_attn.k_proj.bias", {kv}, WeightKind::kBias, &l->k_bias);
    add("self_attn.v_proj.bias", {kv}, WeightKind::kBias, &l->v_bias);
  }
  add("self_attn.o_proj.weight", {h, q}, WeightKind::kMatrix, &l->o_proj);
  add("post_attention_layernorm.weight", {h}, WeightKind::kNorm, &l->post_attention_layernorm);
  add("mlp.gate_proj.weight", {f, h}, WeightKind::kMatrix, &l->gate_proj);
  add("mlp.up_proj.weight", {f, h}, WeightKind::kMatrix, &l->up_proj);
  add("mlp.down_proj.weight", {h, f}, WeightKind::kMatrix, &l->down_proj);
}

}  // namespace

std::vector<WeightSpec> weight_specs(const ModelConfig& c, ModelWeights* w) {
  std::vector<WeightSpec> out;
  w->layers.assign(size_t(c.num_hidden_layers), LayerWeights{});
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, WeightKind::kMatrix, &w->embed_tokens});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) add_layer_specs(c, i, &w->layers[size_t(i)], &out);
  out.push_back({"model.norm.weight", {c.hidden_size}, WeightKind::kNorm, &w->norm});
  if (!c.tie_word_embeddings) {
    out.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}, WeightKind::kMatrix, &w->lm_head});
  }
  return out;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace ds
