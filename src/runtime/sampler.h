#pragma once
// Sampler: turns one row of logits into a token id (greedy, or temperature with top-k / top-p /
// min-p under a per-request seeded generator) plus log-probabilities under the model's raw
// distribution (before temperature and truncation, as vLLM reports them).
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace ds {

struct SamplingParams {
  double temperature = 1.0;  // 0 = greedy
  double top_p = 1.0;
  int64_t top_k = 0;  // 0 or -1 = off
  double min_p = 0.0;
  std::optional<uint64_t> seed;
  int32_t logprobs = 0;  // number of top alternatives to report (0 = only the sampled token)
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0.f;
  std::vector<std::pair<int32_t, float>> top;  // top `logprobs` (id, logprob), best first
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  SampledToken sample(std::span<const float> logits);

 private:
  int32_t sample_filtered(std::span<const float> logits);
  SamplingParams p_;
  std::mt19937_64 rng_;
};

// log_softmax of one row (float accumulation in double for a stable normaliser).
std::vector<float> log_softmax(std::span<const float> logits);

}  // namespace ds
