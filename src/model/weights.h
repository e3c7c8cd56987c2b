#pragma once
// ModelWeights: views of every weight of the generic pre-norm decoder, named after their role.
// Shapes use HF's [out_features, in_features] layout. The views point into mmap'd safetensors
// (real checkpoints) or into an owned buffer (--load-format dummy); `storage` keeps either alive.
#include <filesystem>
#include <memory>
#include <vector>

#include "common/status.h"
#include "core/tensor.h"
#include "model/config.h"

namespace ds {

struct LayerWeights {
  Tensor input_layernorm;           // [hidden]
  Tensor q_proj, k_proj, v_proj;    // [q_size, hidden], [kv_size, hidden], [kv_size, hidden]
  Tensor q_bias, k_bias, v_bias;    // [q_size], [kv_size], [kv_size]; undefined when !attention_bias
  Tensor o_proj;                    // [hidden, q_size]
  Tensor post_attention_layernorm;  // [hidden]
  Tensor gate_proj, up_proj;        // [intermediate, hidden]
  Tensor down_proj;                 // [hidden, intermediate]
};

struct ModelWeights {
  Tensor embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Tensor norm;     // [hidden]
  Tensor lm_head;  // [vocab, hidden]; the same view as embed_tokens when tie_word_embeddings
  std::shared_ptr<void> storage;
};

// Maps HF tensor names (model.layers.N.self_attn.q_proj.weight, ...) to roles, checking every
// shape and dtype against the config. Missing tensors are errors; unused ones are listed in
// `unused` (when non-null) so check-model can report them.
Result<ModelWeights> load_weights(const ModelConfig& cfg, const std::filesystem::path& model_dir,
                                  std::vector<std::string>* unused = nullptr);

// Random weights from the config alone (vLLM's --load-format dummy): uniform in [-a, a] with a small
// a so activations stay finite, norms = 1. Deterministic for a seed.
ModelWeights make_dummy_weights(const ModelConfig& cfg, DType dtype, uint64_t seed);

}  // namespace ds
