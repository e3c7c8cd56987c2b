#pragma once
// The host half of device sampling: one sequence's draw described for the backend's DeviceSampler
// (backend/sampling.h) from the same inputs as the host sampler's SamplingContext, and the result
// turned back into a SampledToken. The processors become a short sorted list of per-token
// adjustments: logit_bias entries, the min_tokens mask of EOS/stop_token_ids, and per distinct
// token of the context the repetition flag and the output count.
#include <cstdint>

#include "backend/sampling.h"
#include "engine/sampler.h"

namespace ds {

// Appends ctx's row (logits row `logits_row`, Philox key `seed`, counter = tokens generated so far)
// and its adjustments to `batch`. ctx.rng is not used.
void add_sample_row(const SamplingContext& ctx, int32_t logits_row, uint64_t seed, SampleBatch& batch);

SampledToken to_sampled_token(const SampleResult& r);

}  // namespace ds
