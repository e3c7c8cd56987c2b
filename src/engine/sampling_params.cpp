#include "engine/sampling_params.h"

#include <sstream>

namespace ds {
namespace {

// Limits beyond vLLM's own checks. vLLM accepts any n and any number of stop strings; we cap both so
// one request cannot make the engine fork hundreds of sequences or scan thousands of strings per token.
constexpr int32_t kMaxN = 128;            // OpenAI's documented maximum for `n`
constexpr double kMaxTemperature = 100.0; // vLLM has no upper bound; beyond 100 the distribution is flat
constexpr int32_t kMaxLogprobs = 20;      // OpenAI's top_logprobs maximum
constexpr size_t kMaxStopStrings = 64;
constexpr double kMaxLogitBias = 100.0;   // OpenAI: -100..100

template <class T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Written as !(in range) so that NaN is rejected too.
bool in_closed(double v, double lo, double hi) { return v >= lo && v <= hi; }

Status check_scalars(const SamplingParams& p) {
  if (p.n < 1 || p.n > kMaxN) return invalid_argument("n must be in [1, " + str(kMaxN) + "], got " + str(p.n));
  if (!in_closed(p.temperature, 0.0, kMaxTemperature)) {
    return invalid_argument("temperature must be in [0, " + str(kMaxTemperature) + "], got " + str(p.temperature));
  }
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) return invalid_argument("top_p must be in (0, 1], got " + str(p.top_p));
  if (p.top_k < -1) return invalid_argument("top_k must be -1 or 0 (disabled) or at least 1, got " + str(p.top_k));
  if (!in_closed(p.min_p, 0.0, 1.0)) return invalid_argument("min_p must be in [0, 1], got " + str(p.min_p));
  if (!in_closed(p.presence_penalty, -2.0, 2.0)) {
    return invalid_argument("presence_penalty must be in [-2, 2], got " + str(p.presence_penalty));
  }
  if (!in_closed(p.frequency_penalty, -2.0, 2.0)) {
    return invalid_argument("frequency_penalty must be in [-2, 2], got " + str(p.frequency_penalty));
  }
  if (!(p.repetition_penalty > 0.0 && p.repetition_penalty <= 2.0)) {
    return invalid_argument("repetition_penalty must be in (0, 2], got " + str(p.repetition_penalty));
  }
  if (p.logprobs && (*p.logprobs < 0 || *p.logprobs > kMaxLogprobs)) {
    return invalid_argument("logprobs must be in [0, " + str(kMaxLogprobs) + "], got " + str(*p.logprobs));
  }
  if (p.max_tokens < 1) return invalid_argument("max_tokens must be at least 1, got " + str(p.max_tokens));
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens) {
    return invalid_argument("min_tokens must be in [0, max_tokens=" + str(p.max_tokens) + "], got " +
                            str(p.min_tokens));
  }
  return Status::ok();
}

Status check_token_lists(const SamplingParams& p, int32_t vocab_size) {
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return invalid_argument("logit_bias token id " + str(id) + " is outside the vocabulary [0, " +
                              str(vocab_size) + ")");
    }
    if (!in_closed(bias, -kMaxLogitBias, kMaxLogitBias)) {
      return invalid_argument("logit_bias value for token " + str(id) + " must be in [-100, 100], got " + str(bias));
    }
  }
  for (int32_t id : p.stop_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return invalid_argument("stop_token_ids entry " + str(id) + " is outside the vocabulary [0, " +
                              str(vocab_size) + ")");
    }
  }
  if (p.stop.size() > kMaxStopStrings) {
    return invalid_argument("stop may hold at most " + str(kMaxStopStrings) + " strings, got " + str(p.stop.size()));
  }
  for (size_t i = 0; i < p.stop.size(); ++i) {
    if (p.stop[i].empty()) return invalid_argument("stop[" + str(i) + "] must not be empty");
  }
  return Status::ok();
}

}  // namespace

Status SamplingParams::validate(int32_t vocab_size) const {
  DS_RETURN_IF_ERROR(check_scalars(*this));
  return check_token_lists(*this, vocab_size);
}

}  // namespace ds
