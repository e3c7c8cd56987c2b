// The host half of device sampling (engine/device_sampling.h): the sparse adjustment lists, and
// that applying them (backend/sampling.h adjusted_logit) then taking the argmax is exactly the host
// sampler's greedy pick. Plus Philox4x32-10 known answers (backend/philox.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/device_sampling.h"

namespace ds {
namespace {

TEST(Philox, KnownAnswers) {
  // Random123's kat_vectors for philox4x32_10.
  Philox4 a = philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[1], 0xe169c58du);
  EXPECT_EQ(a.v[2], 0xbc57ac4cu);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  Philox4 b = philox4x32_10(Philox4{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[1], 0x41c83b0eu);
  EXPECT_EQ(b.v[2], 0xa20bc7c6u);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
}

TEST(Philox, UniformsInRange) {
  EXPECT_GT(philox_uniform_open(0), 0.f);
  EXPECT_LT(philox_uniform_open(0xffffffffu), 1.f);
  EXPECT_EQ(philox_uniform53(0, 0), 0.0);
  EXPECT_LT(philox_uniform53(0xffffffffu, 0xffffffffu), 1.0);
}

TEST(DeviceSampling, RowFieldsAndEmptyAdjustments) {
  SamplingParams p;
  p.temperature = 0.7, p.top_k = 40, p.top_p = 0.9, p.min_p = 0.05, p.logprobs = 5;
  std::vector<int32_t> prompt{1, 2, 3}, output{4, 5}, eos{9};
  SampleBatch b;
  add_sample_row({&p, prompt, output, eos, nullptr}, 3, 42, b);
  ASSERT_EQ(b.rows.size(), 1u);
  const SampleRow& r = b.rows[0];
  EXPECT_EQ(r.logits_row, 3);
  EXPECT_EQ(r.num_logprobs, 5);
  EXPECT_EQ(r.temperature, 0.7);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(r.step, 2u);  // tokens generated so far
  EXPECT_EQ(r.adj_begin, r.adj_end);  // no processor is active
  EXPECT_TRUE(b.adjustments.empty());
}

TEST(DeviceSampling, AdjustmentsMergedPerToken) {
  SamplingParams p;
  p.logit_bias = {{7, 1.5f}, {2, -3.f}};
  p.min_tokens = 5;
  p.stop_token_ids = {11, 9};
  p.repetition_penalty = 1.2;
  p.frequency_penalty = 0.5;
  std::vector<int32_t> prompt{2, 3, 3}, output{7, 3, 7, 7}, eos{9};
  SampleBatch b;
  b.adjustments.resize(2);  // earlier rows' entries stay untouched
  add_sample_row({&p, prompt, output, eos, nullptr}, 0, 1, b);
  const SampleRow& r = b.rows[0];
  ASSERT_EQ(r.adj_begin, 2);
  std::vector<LogitAdjustment> a(b.adjustments.begin() + r.adj_begin, b.adjustments.begin() + r.adj_end);
  ASSERT_EQ(a.size(), 5u);  // tokens 2, 3, 7, 9, 11
  EXPECT_EQ(a[0].token, 2);
  EXPECT_EQ(a[0].bias, -3.f);
  EXPECT_EQ(a[0].in_context, 1);
  EXPECT_EQ(a[0].output_count, 0);
  EXPECT_EQ(a[1].token, 3);
  EXPECT_EQ(a[1].output_count, 1);
  EXPECT_EQ(a[2].token, 7);
  EXPECT_EQ(a[2].bias, 1.5f);
  EXPECT_EQ(a[2].output_count, 3);
  EXPECT_EQ(a[2].masked, 0);
  EXPECT_EQ(a[3].token, 9);
  EXPECT_EQ(a[3].masked, 1);
  EXPECT_EQ(a[3].in_context, 0);
  EXPECT_EQ(a[4].token, 11);
  EXPECT_EQ(a[4].masked, 1);
  // min_tokens reached: no mask entries.
  output = {1, 1, 1, 1, 1};
  SampleBatch c;
  add_sample_row({&p, prompt, output, eos, nullptr}, 0, 1, c);
  for (const LogitAdjustment& x : c.adjustments) EXPECT_EQ(x.masked, 0) << x.token;
}

// The adjusted row's first maximum is the host sampler's greedy token, for random processors.
TEST(DeviceSampling, AdjustedArgmaxEqualsHostSampler) {
  std::mt19937_64 rng(7);
  const int32_t vocab = 300;
  std::normal_distribution<float> nd(0.f, 2.f);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<float> logits(static_cast<size_t>(vocab));
    for (auto& v : logits) v = std::round(nd(rng) * 4.f) / 4.f;  // coarse: many ties
    SamplingParams p;
    p.temperature = 0.0;
    p.logprobs = 2;
    if (trial % 2) p.logit_bias = {{int32_t(rng() % vocab), 2.f}, {int32_t(rng() % vocab), -1.f}};
    if (trial % 3 == 0) p.min_tokens = 2, p.stop_token_ids = {int32_t(rng() % vocab)};
    p.repetition_penalty = trial % 4 ? 1.0 + 0.1 * double(trial % 7) : 1.0;
    p.presence_penalty = double(trial % 5) * 0.5 - 1.0;
    p.frequency_penalty = double(trial % 3) * 0.25;
    std::vector<int32_t> prompt, output, eos{int32_t(rng() % vocab)};
    for (int k = 0; k < 20; ++k) prompt.push_back(int32_t(rng() % vocab));
    for (int k = 0; k < trial % 5; ++k) output.push_back(int32_t(rng() % vocab));
    const SamplingContext ctx{&p, prompt, output, eos, nullptr};
    SampleBatch b;
    add_sample_row(ctx, 0, 0, b);
    std::vector<float> adjusted = logits;
    for (const LogitAdjustment& a : b.adjustments) adjusted[size_t(a.token)] = adjusted_logit(logits[size_t(a.token)], a, b.rows[0]);
    int32_t best = 0;
    for (int32_t i = 0; i < vocab; ++i)
      if (adjusted[size_t(i)] > adjusted[size_t(best)]) best = i;
    std::vector<float> scratch = logits;
    EXPECT_EQ(best, sample_token(scratch, ctx).id) << "trial " << trial;
  }
}

TEST(DeviceSampling, ResultToSampledToken) {
  SampleResult r;
  r.id = 5, r.logprob = -0.5f, r.num_top = 2;
  r.top_ids[0] = 5, r.top_logprobs[0] = -0.5f, r.top_ids[1] = 1, r.top_logprobs[1] = -2.f;
  const SampledToken t = to_sampled_token(r);
  EXPECT_EQ(t.id, 5);
  EXPECT_EQ(t.logprob, -0.5f);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[1], (std::pair<int32_t, float>{1, -2.f}));
}

}  // namespace
}  // namespace ds
