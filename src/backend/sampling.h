#pragma once
// Device sampling at the backend boundary: one row of float32 logits in the backend's memory per
// forward row; one SampleRow per sampled sequence (n > 1 children name the same logits row); only
// the results (token id, its raw logprob, the top-n raw logprobs) come back to the host.
//
// Semantics are the host sampler's (engine/sampler.h, vLLM's order): logprobs from the RAW logits;
// then the sparse adjustments (logit_bias, min_tokens masks, repetition/presence/frequency
// penalties), then greedy argmax (first maximum) or temperature -> top-k -> top-p -> min-p -> draw.
// Randomness: Philox4x32-10 keyed by the sequence's seed, counter by its step (backend/philox.h),
// so a seeded sequence draws the same tokens whatever else is in the batch.
#include <cstdint>
#include <vector>

#include "backend/philox.h"
#include "core/tensor.h"

namespace ds {

constexpr int32_t kMaxSampleLogprobs = 20;

// One distinct token of one sequence whose logit the processors change. The host builds these
// (engine/device_sampling.h); the device applies, in this order: += bias, masked -> -inf,
// in_context -> repetition penalty (positive / rp, negative * rp), then
// -= presence * (output_count > 0) + frequency * output_count.
struct LogitAdjustment {
  int32_t token = 0;
  float bias = 0.f;          // logit_bias (0 when none)
  int32_t output_count = 0;  // occurrences in the sequence's output so far
  uint8_t masked = 0;        // min_tokens not reached and token is EOS / a stop_token_id
  uint8_t in_context = 0;    // in prompt or output (repetition penalty)
  uint8_t pad[2] = {0, 0};
};

struct SampleRow {
  int32_t logits_row = 0;     // row of the logits tensor
  int32_t num_logprobs = 0;   // 0..kMaxSampleLogprobs best raw (id, logprob) to return
  double temperature = 1.0;   // <= 0: greedy
  int32_t top_k = 0;          // <= 0: off
  int32_t adj_begin = 0, adj_end = 0;  // [begin, end) of SampleBatch::adjustments, sorted by token
  double top_p = 1.0;         // 1: off
  double min_p = 0.0;         // 0: off
  double repetition_penalty = 1.0, presence_penalty = 0.0, frequency_penalty = 0.0;
  uint64_t seed = 0;          // Philox key
  uint64_t step = 0;          // Philox counter: tokens this sequence has generated so far
  // Whether SampleResult::logprob is wanted (the request asked for logprobs). false: the device
  // sampler may skip the row's log-sum-exp (then logprob is 0); greedy rows are then one argmax pass.
  bool want_logprob = true;
};

struct SampleBatch {
  std::vector<SampleRow> rows;
  std::vector<LogitAdjustment> adjustments;
  void clear() {
    rows.clear();
    adjustments.clear();
  }
};

struct SampleResult {
  int32_t id = 0;
  float logprob = 0.f;   // of id under the raw distribution (0 when the row did not want it)
  int32_t num_top = 0;   // <= row.num_logprobs (fewer only when the row has fewer non-NaN entries)
  int32_t top_ids[kMaxSampleLogprobs] = {};
  float top_logprobs[kMaxSampleLogprobs] = {};  // best first, equal logits by lower id
};

// The processed logit of an adjusted token (host and device: the tests' reference uses it too).
// Arithmetic as the host sampler's: bias in float, penalties in double, rounded to float.
DS_HD float adjusted_logit(float raw, const LogitAdjustment& a, const SampleRow& r) {
  float l = raw + a.bias;
  if (a.masked) l = -__builtin_huge_valf();
  if (a.in_context && r.repetition_penalty != 1.0)
    l = float(l > 0.f ? double(l) / r.repetition_penalty : double(l) * r.repetition_penalty);
  if (a.output_count > 0 && (r.presence_penalty != 0.0 || r.frequency_penalty != 0.0))
    l = float(double(l) - (r.presence_penalty + r.frequency_penalty * double(a.output_count)));
  return l;
}

// Rows with temperature > 0 and no top-k/top-p/min-p draw by Gumbel-max in one pass over the row;
// the others with a filter sort their processed logits (see src/backend/cuda/sampling.cu).
DS_HD bool needs_sorted_draw(const SampleRow& r, int64_t vocab) {
  return r.temperature > 0.0 && ((r.top_k > 0 && r.top_k < vocab) || r.top_p < 1.0 || r.min_p > 0.0);
}

// How a DeviceSampler's rows with top-k/top-p/min-p were drawn so far.
struct SortedDrawCounts {
  int64_t candidates = 0;  // from the row's best entries only
  int64_t full_sorts = 0;  // by sorting the whole vocabulary
};

class DeviceSampler {
 public:
  virtual ~DeviceSampler() = default;
  // logits: float32 [rows, vocab] in the backend's memory. Fills out[i] for batch.rows[i]; blocks
  // until the results are on the host.
  virtual void sample(const Tensor& logits, const SampleBatch& batch, std::vector<SampleResult>& out) = 0;
  // Allocates now what sample() would allocate for up to `max_rows` rows of `vocab` logits with every
  // feature in use (the top-k/top-p sort included), so the engine can count it before sizing the KV
  // cache and peak memory stays within --gpu-memory-utilization.
  virtual void reserve(int32_t max_rows, int64_t vocab) = 0;
  virtual SortedDrawCounts sorted_draw_counts() const { return {}; }
};

}  // namespace ds
