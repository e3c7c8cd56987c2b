#pragma once
// generation_config.json: request defaults the model's authors recommend (vLLM applies them too).
#include <filesystem>
#include <optional>
#include <vector>

#include "common/status.h"

namespace ds {

struct GenerationDefaults {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> repetition_penalty;
  std::optional<int64_t> max_new_tokens;
  std::optional<bool> do_sample;  // false means greedy (temperature 0)
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
};

// A missing file gives empty defaults (ok); a malformed one is an error naming the file.
Result<GenerationDefaults> load_generation_config(const std::filesystem::path& model_dir);

}  // namespace ds
