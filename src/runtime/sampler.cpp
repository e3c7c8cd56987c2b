#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ds {

std::vector<float> log_softmax(std::span<const float> x) {
  const float mx = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (float v : x) sum += std::exp(double(v) - mx);
  const float lse = float(mx + std::log(sum));
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - lse;
  return out;
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed.value_or(std::random_device{}())) {}

// Temperature softmax restricted by top-k, then min-p, then top-p; draws one id.
int32_t Sampler::sample_filtered(std::span<const float> logits) {
  const size_t n = logits.size();
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = n;
  if (p_.top_k > 0 && size_t(p_.top_k) < n) keep = size_t(p_.top_k);
  // Sort only what can survive: the top-k (or everything) by logit, ties by lower id.
  auto better = [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + long(keep), idx.end(), better);
  idx.resize(keep);
  const double t = p_.temperature, mx = logits[size_t(idx[0])];
  std::vector<double> prob(keep);
  double z = 0;
  for (size_t i = 0; i < keep; ++i) z += (prob[i] = std::exp((double(logits[size_t(idx[i])]) - mx) / t));
  for (double& q : prob) q /= z;
  size_t cut = keep;
  if (p_.min_p > 0) {
    const double floor = p_.min_p * prob[0];
    cut = size_t(std::find_if(prob.begin(), prob.end(), [&](double q) { return q < floor; }) - prob.begin());
  }
  if (p_.top_p < 1.0) {  // smallest prefix whose mass reaches top_p (always at least one token)
    double mass = 0;
    for (size_t i = 0; i < cut; ++i) {
      mass += prob[i];
      if (mass >= p_.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  cut = std::max<size_t>(cut, 1);
  std::discrete_distribution<size_t> dist(prob.begin(), prob.begin() + long(cut));
  return idx[dist(rng_)];
}

SampledToken Sampler::sample(std::span<const float> logits) {
  SampledToken out;
  if (p_.temperature <= 0) {
    out.id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());  // first max, as torch
  } else {
    out.id = sample_filtered(logits);
  }
  std::vector<float> lp = log_softmax(logits);
  out.logprob = lp[size_t(out.id)];
  if (p_.logprobs > 0) {
    std::vector<int32_t> idx(lp.size());
    std::iota(idx.begin(), idx.end(), 0);
    const size_t k = std::min(idx.size(), size_t(p_.logprobs));
    std::partial_sort(idx.begin(), idx.begin() + long(k), idx.end(),
                      [&](int32_t a, int32_t b) { return lp[size_t(a)] > lp[size_t(b)] || (lp[size_t(a)] == lp[size_t(b)] && a < b); });
    for (size_t i = 0; i < k; ++i) out.top.emplace_back(idx[i], lp[size_t(idx[i])]);
  }
  return out;
}

}  // namespace ds
