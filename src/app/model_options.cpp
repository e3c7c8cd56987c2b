#include "app/model_options.h"

#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "hub/snapshot_download.h"
#include "runtime/device_weights.h"
#ifdef DSSERVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace ds::app {

namespace {

// A --dtype / --kv-cache-dtype value (vLLM's spellings) as a DType; "auto" gives `auto_dtype`.
DType flag_dtype(const std::string& v, DType auto_dtype) {
  if (v == "float32" || v == "float") return DType::kF32;
  if (v == "float16" || v == "half") return DType::kF16;
  if (v == "bfloat16") return DType::kBF16;
  return auto_dtype;
}

}  // namespace

void add_model_options(CLI::App& cmd, ModelOptions& o, bool model_required) {
  auto* model = cmd.add_option("--model,-m", o.model, "Model folder (Hugging Face layout) or, with --load-format dummy, a model id");
  if (model_required) model->required();
  cmd.add_option("--tokenizer", o.tokenizer, "Folder with tokenizer.json (default: the model folder)");
  cmd.add_option("--load-format", o.load_format, "auto | safetensors | dummy (random weights from the config)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  cmd.add_option("--dtype", o.dtype, "auto | bfloat16 | half | float16 | float32 | float (the dtype of dummy weights)")
      ->check(CLI::IsMember({"auto", "bfloat16", "half", "float16", "float32", "float"}));
  cmd.add_option("--generation-config", o.generation_config,
                 "auto (request defaults from generation_config.json) | vllm | none");
  cmd.add_option("--chat-template", o.chat_template_file, "Jinja chat template file overriding the model's");
  cmd.add_option("--max-model-len", o.max_model_len, "Maximum prompt + output length (default: what fits)")
      ->check(CLI::Range(1, 1 << 24));
  cmd.add_option("--threads", o.threads, "CPU threads for the model (default: all cores)")->check(CLI::Range(0, 1024));
  cmd.add_option("--seed-weights", o.dummy_seed, "Seed of --load-format dummy weights");
  cmd.add_option("--device", o.device,
                 "cpu | cuda (bf16 weights, activations and KV cache on GPU 0; KV sized by --gpu-memory-utilization "
                 "unless --kv-cache-memory / --num-kv-blocks)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd.add_option("--kv-cache-dtype", o.kv_cache_dtype,
                 "auto (CPU: float32; CUDA: bfloat16) | bfloat16 | float16 | half | float32 | float: the KV "
                 "cache's element type; on the CPU bfloat16 or float16 halve its memory (twice the tokens per "
                 "--kv-cache-memory)")
      ->check(CLI::IsMember({"auto", "bfloat16", "float16", "half", "float32", "float"}));
  cmd.add_flag("--batch-invariant", o.batch_invariant,
               "CUDA: bit-identical results for a sequence whatever else is batched with it (slower; the CPU "
               "backend is always batch-invariant)");
}

Result<std::unique_ptr<Backend>> make_backend(const ModelOptions& o) {
  const std::string& kv = o.kv_cache_dtype;
  if (o.device == "cuda") {
    if (kv != "auto" && kv != "bfloat16")
      return unsupported("--kv-cache-dtype " + kv +
                         ": the CUDA backend keeps the KV cache in bfloat16 (auto | bfloat16)");
#ifdef DSSERVE_CUDA
    if (cuda_device_count() == 0) return unsupported("--device cuda: no CUDA device is visible to this process");
    CudaBackendOptions opts;
    opts.batch_invariant = o.batch_invariant;
    return make_cuda_backend(opts);
#else
    return unsupported("--device cuda: this dsserve was built without the CUDA backend (DSSERVE_CUDA)");
#endif
  }
  CpuBackendOptions cpu;
  cpu.num_threads = o.threads;
  cpu.kv_cache_dtype = flag_dtype(kv, DType::kF32);
  return make_cpu_backend(cpu);
}

void place_weights(LoadedModel& m, Backend& backend) {
  // The CUDA matmul takes bf16 operands; the CPU backend keeps the checkpoint's views.
  m.weights = upload_weights(m.weights, backend, DType::kBF16);
}

Result<std::unique_ptr<LoadedModel>> load_model_from_options(ModelOptions& o) {
  ModelSource src;
  src.model = o.model;
  if (o.load_format != "dummy" && hub::is_hub_model_id(o.model)) {  // vLLM: a hub id is downloaded
    DS_ASSIGN_OR_RETURN(std::filesystem::path snapshot, hub::resolve_model_path(o.model));
    src.model = snapshot.string();
  }
  src.tokenizer = o.tokenizer;
  src.load_format = o.load_format == "dummy" ? LoadFormat::kDummy : LoadFormat::kAuto;
  src.dummy_seed = o.dummy_seed;
  src.dummy_dtype = flag_dtype(o.dtype, src.dummy_dtype);
  if (o.generation_config != "auto" && o.generation_config != "none" && o.generation_config != "vllm") {
    return invalid_argument("--generation-config: expected auto or none, got '" + o.generation_config + "'");
  }
  DS_ASSIGN_OR_RETURN(auto m, load_model(src));
  if (o.generation_config != "auto") m->generation = GenerationDefaults{};
  if (!o.chat_template_file.empty()) {
    DS_ASSIGN_OR_RETURN(o.chat_template, read_file(o.chat_template_file));
  }
  return m;
}

int fail(const Status& s) {
  std::cerr << "dsserve: error: " << s.message() << std::endl;
  return 1;
}

}  // namespace ds::app
