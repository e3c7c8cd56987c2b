// SamplingParams::validate: defaults and boundary values pass; every out-of-range field fails with
// a message that names the field as the OpenAI/vLLM API spells it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/sampling_params.h"

namespace ds {
namespace {

constexpr int32_t kVocab = 1000;

TEST(SamplingParamsTest, DefaultsAreValid) {
  const Status s = SamplingParams{}.validate(kVocab);
  EXPECT_TRUE(s.is_ok()) << s.message();
}

TEST(SamplingParamsTest, BoundaryValuesAreValid) {
  const std::vector<std::function<void(SamplingParams&)>> edits = {
      [](SamplingParams& p) { p.n = 1; },
      [](SamplingParams& p) { p.n = 16; },
      [](SamplingParams& p) { p.temperature = 0.0; },
      [](SamplingParams& p) { p.temperature = 2.0; },
      [](SamplingParams& p) { p.temperature = 100.0; },
      [](SamplingParams& p) { p.top_p = 1e-9; },
      [](SamplingParams& p) { p.top_k = -1; },
      [](SamplingParams& p) { p.top_k = 1; },
      [](SamplingParams& p) { p.top_k = kVocab * 10; },
      [](SamplingParams& p) { p.min_p = 1.0; },
      [](SamplingParams& p) { p.presence_penalty = -2.0; },
      [](SamplingParams& p) { p.frequency_penalty = 2.0; },
      [](SamplingParams& p) { p.repetition_penalty = 2.0; },
      [](SamplingParams& p) { p.repetition_penalty = 0.01; },
      [](SamplingParams& p) { p.logprobs = 0; },
      [](SamplingParams& p) { p.logprobs = 20; },
      [](SamplingParams& p) { p.max_tokens = 1; },
      [](SamplingParams& p) { p.min_tokens = p.max_tokens; },
      [](SamplingParams& p) { p.logit_bias = {{0, -100.f}, {kVocab - 1, 100.f}}; },
      [](SamplingParams& p) { p.stop_token_ids = {0, kVocab - 1}; },
      [](SamplingParams& p) { p.stop = std::vector<std::string>(64, "x"); },
      [](SamplingParams& p) { p.seed = std::numeric_limits<uint64_t>::max(); },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    SamplingParams p;
    edits[i](p);
    const Status s = p.validate(kVocab);
    EXPECT_TRUE(s.is_ok()) << "edit #" << i << ": " << s.message();
  }
}

struct Bad {
  const char* field;  // must appear in the message
  std::function<void(SamplingParams&)> edit;
};

TEST(SamplingParamsTest, EveryInvalidFieldIsNamed) {
  const double nan = std::nan("");
  const std::vector<Bad> cases = {
      {"n", [](SamplingParams& p) { p.n = 0; }},
      {"n", [](SamplingParams& p) { p.n = 129; }},
      {"temperature", [](SamplingParams& p) { p.temperature = -0.1; }},
      {"temperature", [](SamplingParams& p) { p.temperature = 100.5; }},
      {"temperature", [&](SamplingParams& p) { p.temperature = nan; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.01; }},
      {"top_p", [&](SamplingParams& p) { p.top_p = nan; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -2; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.01; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.5; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = -2.5; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3; }},
      {"frequency_penalty", [&](SamplingParams& p) { p.frequency_penalty = nan; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 2.01; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = -1; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 21; }},
      {"max_tokens", [](SamplingParams& p) { p.max_tokens = 0; }},
      {"min_tokens", [](SamplingParams& p) { p.min_tokens = -1; }},
      {"min_tokens", [](SamplingParams& p) { p.min_tokens = p.max_tokens + 1; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{kVocab, 1.f}}; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{-1, 1.f}}; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{3, 100.5f}}; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{3, -101.f}}; }},
      {"stop_token_ids", [](SamplingParams& p) { p.stop_token_ids = {5, kVocab}; }},
      {"stop_token_ids", [](SamplingParams& p) { p.stop_token_ids = {-1}; }},
      {"stop", [](SamplingParams& p) { p.stop = {"ok", ""}; }},
      {"stop", [](SamplingParams& p) { p.stop = std::vector<std::string>(65, "x"); }},
  };
  for (const Bad& c : cases) {
    SamplingParams p;
    c.edit(p);
    const Status s = p.validate(kVocab);
    ASSERT_FALSE(s.is_ok()) << "expected an error for " << c.field;
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    // The message starts with the field's name as a whole word ("stop" must not pass for "stop_token_ids").
    const std::string& m = s.message();
    const std::string field = c.field;
    const bool named = m.starts_with(field) && m.size() > field.size() && (m[field.size()] == ' ' || m[field.size()] == '[');
    EXPECT_TRUE(named) << "message does not name " << field << ": " << m;
  }
}

TEST(SamplingParamsTest, GreedyMeansZeroTemperature) {
  SamplingParams p;
  EXPECT_FALSE(p.greedy());
  p.temperature = 0.0;
  EXPECT_TRUE(p.greedy());
}

}  // namespace
}  // namespace ds
