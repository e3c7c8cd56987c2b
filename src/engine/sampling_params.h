#pragma once
// SamplingParams: everything a request may ask of the sampler and the stop logic, with vLLM's
// names and defaults. Immutable once the request is submitted.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ds {

struct SamplingParams {
  int32_t n = 1;                  // independent completions sharing the prompt's KV blocks
  double temperature = 1.0;       // 0 = greedy
  double top_p = 1.0;             // (0, 1]
  int32_t top_k = 0;              // 0 or -1 = off
  double min_p = 0.0;             // [0, 1]
  double presence_penalty = 0.0;  // [-2, 2], OpenAI semantics, over output tokens
  double frequency_penalty = 0.0; // [-2, 2], OpenAI semantics, over output tokens
  double repetition_penalty = 1.0;  // (0, 2], HF/vLLM semantics, over prompt + output tokens
  std::map<int32_t, float> logit_bias;  // added to the logits before everything else
  std::optional<uint64_t> seed;   // per-request generator: same tokens whatever the batch
  std::optional<int32_t> logprobs;  // number of top alternatives (0..20) per sampled token; nullopt = none
  int32_t max_tokens = 16;
  int32_t min_tokens = 0;         // EOS / stop_token_ids are masked until this many tokens exist
  bool ignore_eos = false;
  std::vector<std::string> stop;  // stop strings, matched across token boundaries
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;

  // Checks ranges; the message names the field as the API spells it (e.g. "top_p must be in (0, 1]").
  Status validate(int32_t vocab_size) const;
  bool greedy() const { return temperature <= 0.0; }
};

}  // namespace ds
