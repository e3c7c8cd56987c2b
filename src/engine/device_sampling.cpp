#include "engine/device_sampling.h"

#include <algorithm>

#include "common/check.h"

namespace ds {

void add_sample_row(const SamplingContext& ctx, int32_t logits_row, uint64_t seed, SampleBatch& batch) {
  DS_CHECK(ctx.params != nullptr);
  const SamplingParams& p = *ctx.params;
  SampleRow r;
  r.logits_row = logits_row;
  r.num_logprobs = p.logprobs ? std::clamp(*p.logprobs, 0, kMaxSampleLogprobs) : 0;
  r.want_logprob = p.logprobs.has_value();  // the token's own logprob is kept only then (Sequence)
  r.temperature = p.temperature;
  r.top_k = p.top_k;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.repetition_penalty = p.repetition_penalty;
  r.presence_penalty = p.presence_penalty;
  r.frequency_penalty = p.frequency_penalty;
  r.seed = seed;
  r.step = ctx.output_ids.size();

  // One entry per mention, then sorted by token and merged into one entry per distinct token.
  std::vector<LogitAdjustment>& adj = batch.adjustments;
  const size_t begin = adj.size();
  const auto add = [&](int32_t token) -> LogitAdjustment& {
    adj.push_back(LogitAdjustment{});
    adj.back().token = token;
    return adj.back();
  };
  for (const auto& [id, bias] : p.logit_bias) add(id).bias = bias;
  if (ctx.output_ids.size() < size_t(std::max(p.min_tokens, 0))) {
    for (int32_t id : ctx.eos_ids) add(id).masked = 1;
    for (int32_t id : p.stop_token_ids) add(id).masked = 1;
  }
  if (p.repetition_penalty != 1.0) {
    for (int32_t id : ctx.prompt_ids) add(id).in_context = 1;
    for (int32_t id : ctx.output_ids) add(id).in_context = 1;
  }
  if (p.presence_penalty != 0.0 || p.frequency_penalty != 0.0) {
    for (int32_t id : ctx.output_ids) add(id).output_count = 1;
  }
  const auto first = adj.begin() + std::ptrdiff_t(begin);
  std::stable_sort(first, adj.end(), [](const LogitAdjustment& a, const LogitAdjustment& b) { return a.token < b.token; });
  auto out = first;
  for (auto it = first; it != adj.end(); ++it) {
    if (out != first && (out - 1)->token == it->token) {
      LogitAdjustment& m = *(out - 1);
      m.bias += it->bias;  // at most one entry carries a bias (logit_bias is a map)
      m.masked |= it->masked;
      m.in_context |= it->in_context;
      m.output_count += it->output_count;
    } else {
      *out++ = *it;
    }
  }
  adj.erase(out, adj.end());
  r.adj_begin = int32_t(begin);
  r.adj_end = int32_t(adj.size());
  batch.rows.push_back(r);
}

SampledToken to_sampled_token(const SampleResult& r) {
  SampledToken t;
  t.id = r.id;
  t.logprob = r.logprob;
  for (int32_t i = 0; i < r.num_top; ++i) t.top.emplace_back(r.top_ids[i], r.top_logprobs[i]);
  return t;
}

}  // namespace ds
