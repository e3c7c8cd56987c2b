#pragma once
// Engine: one engine thread owns the scheduler, the block manager, the KV cache and every
// Sequence. Other threads talk to it only through submit()/abort() (a queue) and read stats()
// (atomics). See docs/ARCHITECTURE.md for the step and the invariants.
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "backend/backend.h"
#include "common/blocking_queue.h"
#include "engine/block_manager.h"
#include "engine/device_sampling.h"
#include "engine/model_runner.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "runtime/loaded_model.h"

namespace ds {

struct EngineConfig {
  int32_t block_size = 16;
  int32_t num_kv_blocks = 0;        // --num-kv-blocks: overrides the memory-derived count
  double kv_cache_memory_gib = 0.0; // --kv-cache-memory; 0 = derive (CPU: 2 GiB; device: the utilization)
  double gpu_memory_utilization = 0.9;  // device backends: share of total memory this process may hold
  GraphMode graph_mode = GraphMode::kCapture;  // decode graphs (kOff: --enforce-eager); CPU: none
  int32_t max_model_len = 0;        // 0 = min(max_position_embeddings, KV capacity)
  bool enable_prefix_caching = true;
  double swap_space_gib = 0.0;
  SchedulerConfig scheduler;        // swap/kv_bytes fields are filled in by the engine
  uint64_t seed = 0;                // generator for requests without a seed
  // Where the engine's start-up lines (memory split, graph capture) go; unset: stderr, "dsserve: " first.
  std::function<void(const std::string&)> log;
};

// Read from any thread (e.g. GET /metrics) without involving the engine thread.
struct EngineStats {
  std::atomic<int64_t> num_running{0}, num_waiting{0}, num_swapped{0};
  std::atomic<double> kv_cache_usage{0.0};
  std::atomic<int64_t> prompt_tokens_total{0}, generation_tokens_total{0};
  std::atomic<int64_t> prefix_cache_queries{0}, prefix_cache_hits{0};
  std::atomic<int64_t> num_preemptions_total{0};
  std::atomic<int64_t> steps_total{0}, batched_tokens_total{0};
  // Wall time of the engine's steps and of their parts (device-sampler path): scheduling (with KV
  // moves), the forward's call (batch preparation and launches; a device forward runs on after it
  // returns), the previous step's text and events (while this step's forward runs), update, the
  // device sampler's call (waits for the forward and the sampling), applying the sampled ids.
  // The device idles during scheduling, the forward call's preparation and applying the ids.
  std::atomic<int64_t> step_ns_total{0}, schedule_ns_total{0}, forward_call_ns_total{0}, update_ns_total{0},
      sample_call_ns_total{0}, apply_ns_total{0}, emit_ns_total{0};
  std::atomic<int64_t> finished_stop{0}, finished_length{0}, finished_abort{0};
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& cfg, const LoadedModel& model, Backend& backend);
  ~Engine();

  // Any thread. Validates the request (lengths, ids, sampling params) and queues it.
  Result<std::shared_ptr<RequestStream>> submit(EngineRequest req);
  // Any thread. The request finishes with reason abort within one step; its blocks are freed.
  void abort(const std::string& request_id);

  const EngineStats& stats() const { return stats_; }
  int32_t max_model_len() const { return max_model_len_; }
  int32_t num_kv_blocks() const { return num_blocks_; }
  int32_t block_size() const { return cfg_.block_size; }
  const LoadedModel& model() const { return model_; }

 private:
  struct Submit {
    std::shared_ptr<RequestState> state;
  };
  struct Abort {
    std::string request_id;
  };
  using Command = std::variant<Submit, Abort>;

  Engine(const EngineConfig& cfg, const LoadedModel& model, Backend& backend, std::unique_ptr<Decoder> decoder,
         int32_t num_blocks, int32_t max_len);
  void loop();                       // the engine thread
  bool step();                       // one scheduling step; false when there was nothing to run
  void handle(Command cmd);
  void add_request(std::shared_ptr<RequestState> st);
  void abort_request(const std::string& id);
  void move_kv(const SchedulerOutput& out);
  // One sequence to sample and its logits row (n > 1 children share their parent's row).
  struct ToSample {
    Sequence* seq;
    int32_t row;
  };
  std::vector<ToSample> update(const SchedulerOutput& out);
  std::vector<Sequence*> fork_children(Sequence& parent);
  void sample_on_host(const std::vector<ToSample>& todo, const std::vector<float>& logits);
  void sample_on_device(const std::vector<ToSample>& todo, const Tensor& logits);
  void apply_token(Sequence& seq, const SampledToken& tok);
  // The text part of apply_token: at once for a sequence with stop strings (the text may end it),
  // else queued for flush_outputs (on the device path it runs while the next step's forward runs).
  struct TextWork {
    Sequence* seq;
    int32_t token;
    bool past_min;    // stop checks apply (min_tokens reached)
    bool stop_token;  // ended by this token: eos or a stop_token_id (its text only with include_stop_str)
    bool finished;    // ended (stop token or length): flush the detokenizer
  };
  // Appends the token's text; true (and *matched) when a stop string ended the sequence (nothing
  // is flushed then: the stop checker already cut the text).
  bool apply_text(const TextWork& w, std::string* matched);
  // Pending text, then stats, then events of the sequences touched since the last flush. Runs before
  // anything can destroy a touched sequence (an abort) and whenever the engine goes idle.
  void flush_outputs();
  void emit(Sequence& seq);
  void emit_touched();               // the step's events, after its stats are published
  void publish_stats();

  EngineConfig cfg_;
  const LoadedModel& model_;
  Backend& backend_;
  int32_t num_blocks_, max_model_len_;
  std::vector<int32_t> eos_ids_;
  std::unique_ptr<Decoder> decoder_;
  BlockManager blocks_;
  KvCache kv_;
  ModelRunner runner_;
  Scheduler scheduler_;
  std::mt19937_64 seed_rng_;
  uint64_t next_arrival_ = 0;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Sequence>>> requests_;
  std::unordered_map<Sequence*, std::vector<Sequence*>> pending_forks_;  // n > 1 children
  std::vector<Sequence*> touched_;   // sequences with output to emit at the next flush_outputs
  std::vector<TextWork> text_work_;  // their deferred text, in order
  std::vector<float> scratch_;       // one logits row for the host sampler
  DeviceSampler* device_sampler_;    // the backend's; nullptr: sample on the host
  bool defer_text_;                  // false: text at once (DS_NO_DEFER_TEXT=1, A/B runs)
  SampleBatch sample_batch_;         // device sampling: this step's rows
  std::vector<SampleResult> sample_results_;
  EngineStats stats_;
  BlockingQueue<Command> inbox_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ds
