#pragma once
// Flags shared by every subcommand that loads a model (vLLM's names), and small CLI helpers.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/status.h"
#include "runtime/loaded_model.h"

namespace ds::app {

struct ModelOptions {
  std::string model;
  std::string tokenizer;
  std::string load_format = "auto";
  std::string dtype = "auto";
  std::string generation_config = "auto";
  std::string chat_template;  // contents of --chat-template FILE once loaded
  std::string chat_template_file;
  int32_t max_model_len = 0;  // 0 = derive
  int threads = 0;
  uint64_t dummy_seed = 0;
  std::string device = "cpu";  // --device cpu | cuda
  std::string kv_cache_dtype = "auto";  // --kv-cache-dtype
  bool batch_invariant = false;  // --batch-invariant (CUDA; the CPU backend always is)
};

// The model flags of every command that loads a model. serve passes model_required = false: it
// also takes the model as a positional MODEL.
void add_model_options(CLI::App& cmd, ModelOptions& o, bool model_required = true);
// Loads the model; applies --generation-config none and --chat-template FILE.
Result<std::unique_ptr<LoadedModel>> load_model_from_options(ModelOptions& o);
// The backend --device names: the CPU, or the CUDA backend (an error when this binary was built
// without DSSERVE_CUDA).
Result<std::unique_ptr<Backend>> make_backend(const ModelOptions& o);
// Moves the weights into the backend's memory (runtime/device_weights.h); a no-op on the CPU.
// Releases the host copy (mmap or dummy buffer) once uploaded.
void place_weights(LoadedModel& m, Backend& backend);
// Prints a Status as one line "dsserve: error: ..." on stderr; returns the exit code (1).
int fail(const Status& s);

}  // namespace ds::app
