#include "runtime/loaded_model.h"

namespace ds {

namespace fs = std::filesystem;

Result<std::unique_ptr<LoadedModel>> load_model(const ModelSource& src) {
  auto m = std::make_unique<LoadedModel>();
  m->name = src.model;
  const bool is_dir = fs::is_directory(src.model);
  if (src.load_format == LoadFormat::kDummy) {
    if (is_dir) {
      DS_ASSIGN_OR_RETURN(m->config, load_model_config(src.model));
    } else {
      DS_ASSIGN_OR_RETURN(m->config, builtin_model_config(src.model));
    }
    m->weights = make_dummy_weights(m->config, src.dummy_dtype, src.dummy_seed);
  } else {
    if (!is_dir) {
      return not_found(src.model + ": no such model folder (for a built-in config without weights use " +
                       "--load-format dummy)");
    }
    DS_ASSIGN_OR_RETURN(m->config, load_model_config(src.model));
    DS_ASSIGN_OR_RETURN(m->weights, load_weights(m->config, src.model));
  }
  if (is_dir) {
    DS_ASSIGN_OR_RETURN(m->generation, load_generation_config(src.model));
  }
  const std::string tok_dir = !src.tokenizer.empty() ? src.tokenizer : (is_dir ? src.model : "");
  if (!tok_dir.empty() && fs::exists(fs::path(tok_dir) / "tokenizer.json")) {
    DS_ASSIGN_OR_RETURN(m->tokenizer, Tokenizer::load(tok_dir));
  } else if (!src.tokenizer.empty()) {
    return not_found(src.tokenizer + "/tokenizer.json: no such file");
  }
  return m;
}

}  // namespace ds
