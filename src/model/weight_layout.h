#pragma once
// The weights a ModelConfig implies: HF name, expected shape and the ModelWeights slot each fills.
// Shared by load_weights (checkpoint -> slots) and make_dummy_weights (config -> slots) so the two
// can never disagree on names or shapes.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/weights.h"

namespace ds {

enum class WeightKind { kMatrix, kNorm, kBias };

struct WeightSpec {
  std::string name;            // e.g. "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // HF layout, [out_features, in_features] for matrices
  WeightKind kind;
  Tensor* slot;  // where the view goes in `w`
};

// `w->layers` is resized to the layer count. When tied, lm_head is not listed (the caller aliases it
// to embed_tokens).
std::vector<WeightSpec> weight_specs(const ModelConfig& cfg, ModelWeights* w);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace ds
