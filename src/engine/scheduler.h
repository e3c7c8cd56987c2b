#pragma once
// Scheduler: a function over explicit budgets (max_num_seqs, max_num_batched_tokens, free KV
// blocks) that decides, each step, which sequences run and how many tokens each computes.
//
// One step = form_batch() over the running sequences (decodes first, then prefill chunks of
// already-admitted prompts, preempting the lowest-priority/newest sequence when blocks run out),
// then swap_in() of swapped sequences, then admit() of waiting ones with what budget remains.
// Thread: the engine thread only.
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace ds {

enum class PreemptionMode { kRecompute, kSwap };

struct SchedulerConfig {
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  bool priority_policy = false;  // --scheduling-policy priority (else fcfs)
  PreemptionMode preemption_mode = PreemptionMode::kRecompute;
  size_t swap_space_bytes = 0;  // host memory for swapped KV
  size_t kv_bytes_per_block = 0;
};

struct ScheduledSeq {
  Sequence* seq = nullptr;
  int32_t num_new_tokens = 0;
  bool sample = false;  // this step computes the sequence's last known token -> sample the next
};

struct SwapOp {
  Sequence* seq = nullptr;
  BlockTable blocks;  // device blocks to copy from (swap-out) or into (swap-in)
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> seqs;
  std::vector<SwapOp> swap_out;  // run before swap_in and before the forward
  std::vector<SwapOp> swap_in;
  int32_t num_preempted = 0;
  int32_t num_batched_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& cfg, BlockManager& blocks);

  void add_waiting(Sequence* seq, bool at_front = false);
  // A sequence admitted outside admit() (an n > 1 child forked from its parent's blocks).
  void add_running(Sequence* seq) { running_.push_back(seq); }
  // Removes a sequence wherever it is (abort/finish) and frees its blocks.
  void remove(Sequence* seq);
  SchedulerOutput schedule();

  // --- the three phases, public so they are unit-tested on their own ---
  // Running sequences get tokens: decodes first, then prefill chunks. May preempt.
  void form_batch(SchedulerOutput& out, int32_t& budget);
  // Swapped sequences come back when their blocks fit (FCFS), before new admissions.
  void swap_in(SchedulerOutput& out, int32_t& budget);
  // Waiting sequences become running while seats, budget and blocks allow.
  void admit(SchedulerOutput& out, int32_t& budget);

  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  size_t num_swapped() const { return swapped_.size(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const SchedulerConfig& config() const { return cfg_; }

 private:
  bool before(const Sequence* a, const Sequence* b) const;  // scheduling order
  Sequence* pick_victim(const SchedulerOutput& out) const;
  void preempt(Sequence* victim, SchedulerOutput& out);
  bool schedule_running(Sequence* seq, SchedulerOutput& out, int32_t& budget);

  SchedulerConfig cfg_;
  BlockManager& bm_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;
  std::deque<Sequence*> swapped_;
  size_t swap_used_bytes_ = 0;
  int64_t num_preemptions_ = 0;
};

}  // namespace ds
