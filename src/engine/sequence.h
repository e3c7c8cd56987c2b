#pragma once
// Sequence: the engine-side state of one choice of one request. A small state machine; every
// transition is one method below. Thread: the engine thread only.
//
//   kWaiting --admit--> kRunning --finish--> kFinished
//      ^                  |  |
//      +--preempt(recompute)  +--swap_out--> kSwapped --swap_in--> kRunning
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/block_manager.h"
#include "engine/request.h"
#include "engine/stop_checker.h"
#include "tokenizer/tokenizer.h"

namespace ds {

enum class SeqStatus { kWaiting, kRunning, kSwapped, kFinished };

// What the sequences of one request share: the request, its stream, usage accounting.
struct RequestState {
  EngineRequest request;
  std::shared_ptr<RequestStream> stream;
  int32_t num_unfinished = 0;
  Usage usage;
  uint64_t arrival = 0;  // admission order (FCFS)
};

class Sequence {
 public:
  Sequence(std::shared_ptr<RequestState> req, int32_t index, uint64_t seed, const Tokenizer* tok);

  // --- transitions ---
  void admit(int32_t num_cached_tokens);     // waiting -> running, with prefix-cache hits
  void preempt_recompute();                  // running -> waiting; KV dropped, tokens kept
  void swap_out();                           // running -> swapped; KV kept on the host
  void swap_in();                            // swapped -> running
  void finish(FinishReason reason, std::string stop_reason = "");

  // --- progress ---
  void computed(int32_t num_new_tokens) { num_computed_ += num_new_tokens; }
  void append_token(const SampledToken& t);

  SeqStatus status() const { return status_; }
  const std::vector<int32_t>& token_ids() const { return tokens_; }
  int32_t num_tokens() const { return int32_t(tokens_.size()); }
  int32_t num_prompt_tokens() const { return num_prompt_; }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_; }
  int32_t num_computed_tokens() const { return num_computed_; }
  int32_t num_uncomputed_tokens() const { return num_tokens() - num_computed_; }
  bool is_prefill() const { return num_computed_ < num_prompt_; }
  std::span<const int32_t> prompt_ids() const { return {tokens_.data(), size_t(num_prompt_)}; }
  std::span<const int32_t> output_ids() const { return {tokens_.data() + num_prompt_, size_t(num_output_tokens())}; }

  BlockTable& block_table() { return blocks_; }
  const BlockTable& block_table() const { return blocks_; }
  std::vector<uint8_t>& swapped_kv() { return swapped_kv_; }  // host copy while kSwapped
  std::mt19937_64& rng() { return rng_; }  // host sampling
  uint64_t seed() const { return seed_; }   // device sampling: Philox key (counter: num_output_tokens)
  RequestState& request_state() { return *req_; }
  const SamplingParams& params() const { return req_->request.params; }
  const std::string& request_id() const { return req_->request.request_id; }
  int32_t index() const { return index_; }
  int32_t priority() const { return req_->request.priority; }
  uint64_t arrival() const { return req_->arrival; }
  std::optional<FinishReason> finish_reason() const { return finish_; }

  // Output text pipeline (detokenizer -> stop strings); returns text safe to stream. With
  // check_stops false (before min_tokens, as vLLM) the text bypasses the stop-string matcher.
  std::string text_delta(int32_t token_id, bool check_stops, bool* stopped, std::string* matched);
  std::string text_flush();
  // Events not yet sent to the stream (tokens since the last event).
  StreamEvent& pending() { return pending_; }

 private:
  std::shared_ptr<RequestState> req_;
  int32_t index_;
  SeqStatus status_ = SeqStatus::kWaiting;
  std::vector<int32_t> tokens_;
  int32_t num_prompt_;
  int32_t num_computed_ = 0;
  BlockTable blocks_;
  std::vector<uint8_t> swapped_kv_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::optional<IncrementalDetokenizer> detok_;
  StopChecker stop_;
  std::optional<FinishReason> finish_;
  StreamEvent pending_;
};

}  // namespace ds
