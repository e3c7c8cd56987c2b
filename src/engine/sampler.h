#pragma once
// Sampler: one row of logits -> one token, for one sequence, on the host. Pure function of the
// logits, the request's parameters, the sequence's tokens so far and its own generator, so a
// sequence samples the same tokens whatever else is in the batch.
//
// Order (vLLM's): logprobs are taken from the raw logits first; then logit_bias, min_tokens
// masking of EOS/stop_token_ids, repetition/presence/frequency penalties, then greedy argmax
// (first maximum) or temperature -> top-k -> top-p -> min-p -> draw.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/sampling_params.h"

namespace ds {

struct SampledToken {
  int32_t id = 0;
  float logprob = 0.f;                         // of `id` under the raw model distribution
  std::vector<std::pair<int32_t, float>> top;  // params.logprobs best (id, logprob), best first
};

struct SamplingContext {
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_ids;
  std::span<const int32_t> output_ids;  // tokens generated so far by this sequence
  std::span<const int32_t> eos_ids;     // masked (with stop_token_ids) while output < min_tokens
  std::mt19937_64* rng = nullptr;       // this sequence's generator
};

// `logits` [vocab] is used as scratch and modified.
SampledToken sample_token(std::span<float> logits, const SamplingContext& ctx);

// log_softmax of one row, accumulated in double.
std::vector<float> log_softmax(std::span<const float> logits);

}  // namespace ds
