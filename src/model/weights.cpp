// load_weights: checkpoint tensors -> ModelWeights views, every name, shape and dtype checked.
#include <set>

#include "model/safetensors.h"
#include "model/weight_layout.h"
#include "model/weights.h"

namespace ds {

namespace {

bool same_shape(const Tensor& t, const std::vector<int64_t>& shape) {
  if (size_t(t.ndim) != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (t.shape[i] != shape[i]) return false;
  }
  return true;
}

// Checks one tensor against its spec; `dtype` is the checkpoint's dtype (set by the first tensor).
Status check_tensor(const TensorInfo& info, const WeightSpec& spec, const Tensor& first, const std::string& first_name) {
  if (!same_shape(info.view, spec.shape)) {
    return invalid_argument("tensor '" + spec.name + "' in " + info.file + " has shape " + info.view.shape_str() +
                            ", expected " + shape_str(spec.shape));
  }
  if (info.view.dtype != first.dtype) {
    return invalid_argument("tensor '" + spec.name + "' in " + info.file + " is " +
                            std::string(dtype_name(info.view.dtype)) + " but '" + first_name + "' is " +
                            std::string(dtype_name(first.dtype)) + "; all weights must share one dtype");
  }
  return Status::ok();
}

}  // namespace

Result<ModelWeights> load_weights(const ModelConfig& cfg, const std::filesystem::path& model_dir,
                                  std::vector<std::string>* unused) {
  DS_ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> store, TensorStore::open(model_dir));
  ModelWeights w;
  std::vector<WeightSpec> specs = weight_specs(cfg, &w);
  std::set<std::string> used;
  const TensorInfo* first = nullptr;
  for (const WeightSpec& spec : specs) {
    const TensorInfo* info = store->find(spec.name);
    if (info == nullptr) {
      std::string hint = spec.name == "lm_head.weight" ? " (config.json has tie_word_embeddings false)" : "";
      return not_found(model_dir.string() + ": missing tensor '" + spec.name + "'" + hint);
    }
    if (first == nullptr) first = info;
    DS_RETURN_IF_ERROR(check_tensor(*info, spec, first->view, first->name));
    *spec.slot = info->view;
    used.insert(spec.name);
  }
  if (cfg.tie_word_embeddings) w.lm_head = w.embed_tokens;
  if (unused != nullptr) {
    unused->clear();
    for (const std::string& n : store->names()) {
      if (used.count(n) == 0) unused->push_back(n);
    }
  }
  w.storage = std::shared_ptr<TensorStore>(std::move(store));
  return w;
}

}  // namespace ds
