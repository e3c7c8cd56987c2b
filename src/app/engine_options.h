#pragma once
// Engine flags shared by `generate` and `serve` (vLLM's names).
#include <CLI/CLI.hpp>

#include "common/status.h"
#include "engine/engine.h"

namespace ds::app {

struct EngineOptions {
  int32_t block_size = 16;
  int32_t num_kv_blocks = 0;
  double kv_cache_memory = 0.0;  // GiB; 0 = derive (CPU 2 GiB, CUDA --gpu-memory-utilization)
  double gpu_memory_utilization = 0.9;
  bool enforce_eager = false;
  int32_t max_num_seqs = 0;            // 0 = derive (engine_config)
  int32_t max_num_batched_tokens = 0;  // 0 = derive (engine_config)
  bool enable_prefix_caching = true;
  std::string scheduling_policy = "fcfs";
  std::string preemption_mode = "recompute";
  double swap_space = 4.0;  // GiB, used by --preemption-mode swap
  uint64_t seed = 0;
};

void add_engine_options(CLI::App& cmd, EngineOptions& o);
// max_model_len from --max-model-len (0 = derive). Unset --max-num-seqs / --max-num-batched-tokens
// take vLLM's defaults for the context: 256 sequences and max(2048, max-num-seqs) tokens, except for
// offline runs (generate, bench throughput/latency: vLLM's LLM class) on a GPU of >= 70 GiB, which
// get 1024 and 16384.
EngineConfig engine_config(const EngineOptions& o, int32_t max_model_len, const Backend* backend = nullptr,
                           bool offline = false);

}  // namespace ds::app
