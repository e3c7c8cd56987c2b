#pragma once
// LoadedModel: config + weights (+ tokenizer, template, generation defaults when the folder has
// them) from a Hugging Face folder, or a built-in config with random weights (--load-format dummy).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "model/config.h"
#include "model/generation_config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace ds {

enum class LoadFormat { kAuto, kDummy };

struct ModelSource {
  std::string model;      // folder, or a known Hugging Face id with kDummy
  std::string tokenizer;  // folder with tokenizer.json; default: the model folder
  LoadFormat load_format = LoadFormat::kAuto;
  DType dummy_dtype = DType::kBF16;
  uint64_t dummy_seed = 0;
};

struct LoadedModel {
  ModelConfig config;
  ModelWeights weights;
  GenerationDefaults generation;
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found (dummy without --tokenizer)
  std::string name;                      // what /v1/models and logs call it
};

Result<std::unique_ptr<LoadedModel>> load_model(const ModelSource& src);

}  // namespace ds
