#include "app/engine_options.h"

#include <algorithm>

namespace ds::app {

void add_engine_options(CLI::App& cmd, EngineOptions& o) {
  cmd.add_option("--block-size", o.block_size, "Tokens per KV block")->check(CLI::IsMember({8, 16, 32, 64, 128}));
  cmd.add_option("--num-kv-blocks", o.num_kv_blocks, "KV blocks (overrides --kv-cache-memory)")->check(CLI::Range(1, 1 << 24));
  cmd.add_option("--kv-cache-memory", o.kv_cache_memory,
                 "GiB of memory for the KV cache (default: 2 on the CPU; on CUDA what --gpu-memory-utilization leaves)")
      ->check(CLI::Range(0.001, 4096.0));
  cmd.add_option("--gpu-memory-utilization", o.gpu_memory_utilization,
                 "CUDA: share of the GPU's memory this process may use; the KV cache gets what weights, activations "
                 "and graphs leave (default 0.9)")
      ->check(CLI::Range(0.01, 1.0));
  cmd.add_flag("--enforce-eager", o.enforce_eager, "CUDA: no CUDA graphs for decode steps");
  cmd.add_option("--max-num-seqs", o.max_num_seqs,
                 "Maximum sequences per step (default 256; generate and bench on a GPU of >= 70 GiB: 1024)")
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--max-num-batched-tokens", o.max_num_batched_tokens,
                 "Token budget per step (default max(2048, max-num-seqs); generate and bench on a GPU of >= 70 GiB: "
                 "16384)")
      ->check(CLI::Range(1, 1 << 20));
  cmd.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", o.enable_prefix_caching,
               "Automatic prefix caching (default on)");
  cmd.add_option("--scheduling-policy", o.scheduling_policy, "fcfs | priority")->check(CLI::IsMember({"fcfs", "priority"}));
  cmd.add_option("--preemption-mode", o.preemption_mode, "recompute | swap")->check(CLI::IsMember({"recompute", "swap"}));
  cmd.add_option("--swap-space", o.swap_space, "GiB of host memory for swapped KV blocks")->check(CLI::Range(0.0, 4096.0));
}

EngineConfig engine_config(const EngineOptions& o, int32_t max_model_len, const Backend* backend, bool offline) {
  // vLLM's usage-context defaults (EngineArgs, V1): its LLM class on a card of >= 70 GiB batches up
  // to 1024 sequences and 16384 tokens per step.
  const bool big_gpu = backend && backend->name() != "cpu" && backend->memory_info().total >= (size_t(70) << 30);
  const bool large = offline && big_gpu;
  const int32_t max_num_seqs = o.max_num_seqs > 0 ? o.max_num_seqs : (large ? 1024 : 256);
  EngineConfig c;
  c.block_size = o.block_size;
  c.num_kv_blocks = o.num_kv_blocks;
  c.kv_cache_memory_gib = o.kv_cache_memory;
  c.gpu_memory_utilization = o.gpu_memory_utilization;
  c.graph_mode = o.enforce_eager ? GraphMode::kOff : GraphMode::kCapture;
  c.max_model_len = max_model_len;
  c.enable_prefix_caching = o.enable_prefix_caching;
  c.swap_space_gib = o.swap_space;
  c.scheduler.max_num_seqs = max_num_seqs;
  c.scheduler.max_num_batched_tokens =
      o.max_num_batched_tokens > 0 ? o.max_num_batched_tokens : (large ? 16384 : std::max(2048, max_num_seqs));
  c.scheduler.priority_policy = o.scheduling_policy == "priority";
  c.scheduler.preemption_mode = o.preemption_mode == "swap" ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
  c.seed = o.seed;
  return c;
}

}  // namespace ds::app
