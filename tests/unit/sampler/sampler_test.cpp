// sample_token: greedy choice, logprobs under the raw distribution, logit_bias, min_tokens masking,
// penalties against hand computations, and seeded reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "sampler_test_util.h"

namespace ds {
namespace {

using test::SamplerCase;

SamplerCase greedy_case() {
  SamplerCase c;
  c.params.temperature = 0.0;
  return c;
}

TEST(SamplerTest, GreedyReturnsFirstMaximum) {
  SamplerCase c = greedy_case();
  EXPECT_EQ(c.sample({1.f, 5.f, 3.f, 5.f}).id, 1);
  EXPECT_EQ(c.sample({7.f, 5.f, 3.f, 7.f}).id, 0);
  EXPECT_EQ(c.sample({-3.f, -2.f, -1.f, -1.f}).id, 2);
}

TEST(SamplerTest, LogSoftmaxMatchesDefinition) {
  const std::vector<float> x = {1000.f, 999.f, 998.f, -std::numeric_limits<float>::infinity()};
  const std::vector<float> ls = log_softmax(x);
  const double z = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  EXPECT_NEAR(ls[0], -z, 1e-6);
  EXPECT_NEAR(ls[1], -1 - z, 1e-6);
  EXPECT_NEAR(ls[2], -2 - z, 1e-6);
  EXPECT_EQ(ls[3], -std::numeric_limits<float>::infinity());
}

TEST(SamplerTest, LogprobIsUnderRawLogits) {
  const std::vector<float> logits = test::random_logits(50, 7, 2.f);
  const std::vector<float> ls = log_softmax(logits);
  for (bool greedy : {true, false}) {
    SamplerCase c;
    c.params.temperature = greedy ? 0.0 : 0.7;
    c.params.logit_bias = {{13, 50.f}};            // processing must not leak into the logprob
    c.params.repetition_penalty = 1.3;
    c.prompt = {13, 2, 4};
    const SampledToken t = c.sample(logits);
    EXPECT_EQ(t.id, 13);
    EXPECT_FLOAT_EQ(t.logprob, ls[13]);
    EXPECT_TRUE(t.top.empty());  // logprobs not requested
  }
}

TEST(SamplerTest, TopAlternativesSortedBestFirstTiesByLowerId) {
  SamplerCase c = greedy_case();
  c.params.logprobs = 4;
  const std::vector<float> logits = {2.f, 3.f, 3.f, 1.f, 3.f, 0.5f};
  const std::vector<float> ls = log_softmax(logits);
  const SampledToken t = c.sample(logits);
  ASSERT_EQ(t.top.size(), 4u);
  const int32_t want[] = {1, 2, 4, 0};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.top[i].first, want[i]) << i;
    EXPECT_FLOAT_EQ(t.top[i].second, ls[want[i]]) << i;
  }
  c.params.logprobs = 0;
  EXPECT_TRUE(c.sample(logits).top.empty());
  c.params.logprobs = 20;  // more than the vocabulary: all of it
  EXPECT_EQ(c.sample(logits).top.size(), logits.size());
}

TEST(SamplerTest, TopAlternativesOnLargeVocabMatchFullSort) {
  const std::vector<float> logits = test::random_logits(152064, 3, 3.f);
  const std::vector<float> ls = log_softmax(logits);
  const std::vector<int32_t> ranked = test::ranked_ids(logits);
  SamplerCase c = greedy_case();
  c.params.logprobs = 20;
  const SampledToken t = c.sample(logits);
  ASSERT_EQ(t.top.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(t.top[i].first, ranked[i]);
    EXPECT_FLOAT_EQ(t.top[i].second, ls[ranked[i]]);
  }
  EXPECT_EQ(t.id, ranked[0]);
}

TEST(SamplerTest, LogitBiasCanForceOrBanAToken) {
  const std::vector<float> logits = {5.f, 1.f, 0.f, 4.f};
  SamplerCase c = greedy_case();
  c.params.logit_bias = {{2, 5.5f}};
  EXPECT_EQ(c.sample(logits).id, 2);
  c.params.logit_bias = {{0, -100.f}};
  EXPECT_EQ(c.sample(logits).id, 3);
  c.params.temperature = 1.0;
  c.params.logit_bias = {{2, 100.f}};
  for (int i = 0; i < 200; ++i) ASSERT_EQ(c.sample(logits).id, 2);
}

TEST(SamplerTest, MinTokensMasksEosAndStopTokenIds) {
  const std::vector<float> logits = {0.f, 1.f, 2.f, 3.f, 9.f, 10.f};  // 5 = EOS, 4 = stop token
  for (double temperature : {0.0, 1.0}) {
    SamplerCase c;
    c.params.temperature = temperature;
    c.params.min_tokens = 2;
    c.params.stop_token_ids = {4};
    c.eos = {5};
    c.output = {1};
    for (int i = 0; i < 300; ++i) {
      const int32_t id = c.sample(logits).id;
      ASSERT_NE(id, 4);
      ASSERT_NE(id, 5);
    }
    c.output = {1, 1};  // min_tokens reached: EOS is allowed again
    std::set<int32_t> seen;
    for (int i = 0; i < 300; ++i) seen.insert(c.sample(logits).id);
    EXPECT_TRUE(seen.count(5)) << "temperature " << temperature;
  }
}

// The sampler edits its input row in place; after a greedy call the row holds the processed logits.
std::vector<float> processed(SamplerCase& c, std::vector<float> row) {
  sample_token(row, c.ctx());
  return row;
}

TEST(SamplerTest, PenaltiesMatchHandComputation) {
  SamplerCase c = greedy_case();
  c.params.repetition_penalty = 1.5;
  c.params.presence_penalty = 0.5;
  c.params.frequency_penalty = 0.25;
  c.prompt = {0, 1, 0};
  c.output = {2, 3, 2};
  const std::vector<float> got = processed(c, {1.f, -1.f, 2.f, 0.5f, -0.5f, 3.f});
  // Repetition on {0, 1, 2, 3} (prompt + output, once each): x > 0 ? x / 1.5 : x * 1.5.
  // Presence/frequency on output counts {2: 2, 3: 1}: x -= 0.5 + 0.25 * count.
  const double want[] = {1.0 / 1.5, -1.5, 2.0 / 1.5 - 1.0, 0.5 / 1.5 - 0.75, -0.5, 3.0};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << "token " << i;
}

TEST(SamplerTest, NegativePresenceEncouragesAndRepetitionBelowOne) {
  SamplerCase c = greedy_case();
  c.params.presence_penalty = -2.0;
  c.params.repetition_penalty = 0.5;
  c.prompt = {1};
  c.output = {2};
  const std::vector<float> got = processed(c, {1.f, 2.f, -1.f});
  EXPECT_NEAR(got[0], 1.0, 1e-6);
  EXPECT_NEAR(got[1], 4.0, 1e-6);        // 2 / 0.5
  EXPECT_NEAR(got[2], -0.5 + 2.0, 1e-6);  // -1 * 0.5, then +2
}

TEST(SamplerTest, PenaltiesChangeTheGreedyChoice) {
  const std::vector<float> logits = {2.0f, 1.9f, 0.f};
  SamplerCase c = greedy_case();
  c.output = {0};
  EXPECT_EQ(c.sample(logits).id, 0);
  c.params.frequency_penalty = 0.2;
  EXPECT_EQ(c.sample(logits).id, 1);
  c.params.frequency_penalty = 0.0;
  c.params.repetition_penalty = 1.1;  // prompt-only ids count too
  c.output = {};
  c.prompt = {0};
  EXPECT_EQ(c.sample(logits).id, 1);
  c.params.repetition_penalty = 1.0;
  c.params.presence_penalty = 1.0;  // presence ignores the prompt
  EXPECT_EQ(c.sample(logits).id, 0);
}

std::vector<int32_t> draws(uint64_t seed, const std::vector<float>& logits, int n) {
  SamplerCase c;
  c.rng.seed(seed);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(c.sample(logits).id);
  return out;
}

TEST(SamplerTest, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  const std::vector<float> logits = test::random_logits(1000, 11, 0.5f);
  const std::vector<int32_t> a = draws(42, logits, 100);
  EXPECT_EQ(a, draws(42, logits, 100));
  EXPECT_NE(a, draws(43, logits, 100));
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 50u);  // really random, not stuck
}

TEST(SamplerTest, AllMaskedRowFallsBackToFirstToken) {
  const float inf = std::numeric_limits<float>::infinity();
  SamplerCase c;
  EXPECT_EQ(c.sample({-inf, -inf, -inf}).id, 0);
}

}  // namespace
}  // namespace ds
