#pragma once
// EngineRequest (API side, immutable after submit) and the per-request output stream.
// The engine thread pushes StreamEvents; the submitting thread (HTTP handler, CLI) pops them.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"

namespace ds {

struct EngineRequest {
  std::string request_id;
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  int32_t priority = 0;  // --scheduling-policy priority: lower value is served first (vLLM)
};

enum class FinishReason { kStop, kLength, kAbort };
const char* finish_reason_name(FinishReason r);  // "stop" | "length" | "abort"

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // all n choices
  int32_t cached_tokens = 0;      // prompt tokens served from the prefix cache
};

// One increment of one choice. The last event of the request has `done` set and carries usage.
struct StreamEvent {
  int32_t index = 0;  // choice index (0..n-1)
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<SampledToken> logprobs;  // one per token id, when the request asked for logprobs
  std::optional<FinishReason> finish_reason;
  std::string stop_reason;  // the stop string, or the stop token id as text, when finish is stop
  bool done = false;
  Usage usage;
};

// Thread-safe queue of one request's events: written by the engine thread, read by one consumer.
class RequestStream {
 public:
  void push(StreamEvent e);
  // Waits up to `timeout` for the next event; false on timeout.
  bool next(StreamEvent& out, std::chrono::milliseconds timeout);
  // Waits until the request is done; returns every event in order.
  std::vector<StreamEvent> drain();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
};

}  // namespace ds
