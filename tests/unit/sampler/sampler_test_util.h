#pragma once
// Helpers shared by the sampler tests: a context builder and a reference (full-sort) sampler used as
// the oracle for the filters and the draw.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace ds::test {

struct SamplerCase {
  SamplingParams params;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  std::vector<int32_t> eos;
  std::mt19937_64 rng{0};

  SamplingContext ctx() {
    return SamplingContext{&params, prompt, output, eos, &rng};
  }
  // Samples from a copy of `logits` (the sampler uses its input as scratch).
  SampledToken sample(const std::vector<float>& logits) {
    std::vector<float> row = logits;
    return sample_token(row, ctx());
  }
};

inline std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double m = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - m) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

// Ids sorted by descending logit, ties by lower id.
inline std::vector<int32_t> ranked_ids(const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return ids;
}

// The allowed set of top-k -> top-p -> min-p, computed the slow obvious way (full sort); returned
// best first, with each member's renormalised probability.
struct Allowed {
  std::vector<int32_t> ids;
  std::vector<double> probs;
};
inline Allowed reference_allowed(const std::vector<float>& logits, const SamplingParams& p) {
  const std::vector<double> prob = softmax(logits, p.temperature);
  std::vector<int32_t> ids = ranked_ids(logits);
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < ids.size()) ids.resize(p.top_k);
  double mass = 0;
  for (int32_t id : ids) mass += prob[id];
  if (p.top_p < 1.0) {
    double cum = 0;
    size_t n = 0;
    while (n < ids.size() && cum < p.top_p * mass) cum += prob[ids[n++]];
    ids.resize(std::max<size_t>(n, 1));
  }
  const double best = prob[ids[0]];
  std::erase_if(ids, [&](int32_t id) { return prob[id] < p.min_p * best; });
  Allowed a{ids, {}};
  double kept = 0;
  for (int32_t id : ids) kept += prob[id];
  for (int32_t id : ids) a.probs.push_back(prob[id] / kept);
  return a;
}

// Reference draw: the same 53-bit uniform, walked over the fully sorted allowed set.
inline int32_t reference_draw(const Allowed& a, std::mt19937_64& rng) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  double cum = 0;
  for (size_t i = 0; i < a.ids.size(); ++i) {
    cum += a.probs[i];
    if (cum >= u) return a.ids[i];
  }
  return a.ids.back();
}

inline std::vector<float> random_logits(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

}  // namespace ds::test
