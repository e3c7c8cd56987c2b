#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"

namespace ds {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------------
// Raw-distribution helpers (logprobs are reported under the model's own distribution).

// Largest non-NaN value; -inf when there is none.
double max_value(std::span<const float> x) {
  float m = kNegInf;
  for (float v : x) m = v > m ? v : m;  // NaN never compares greater
  return m;
}

double log_sum_exp(std::span<const float> x) {
  const double m = max_value(x);
  if (m == -std::numeric_limits<double>::infinity()) return m;
  double sum = 0.0;
  for (float v : x) {
    // expf (several times cheaper than exp at 152k entries) is as exact as the float logprobs.
    if (!std::isnan(v)) sum += std::exp(v - static_cast<float>(m));
  }
  return m + std::log(sum);
}

// The n best (id, logprob) of the raw row, best first, equal logits by lower id. One pass that keeps
// a sorted list of n <= 20 entries: much cheaper than any sort of the vocabulary.
std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> raw, size_t n, double lse) {
  std::vector<std::pair<int32_t, float>> best;  // (id, raw logit), sorted best first
  best.reserve(n + 1);
  const auto worse = [](const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::pair<int32_t, float> c{static_cast<int32_t>(i), raw[i]};
    if (std::isnan(c.second)) continue;
    if (best.size() == n && !worse(c, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), c, worse), c);
    if (best.size() > n) best.pop_back();
  }
  for (auto& e : best) e.second = static_cast<float>(e.second - lse);
  return best;
}

// ---------------------------------------------------------------------------------------------
// Logits processors. They edit a handful of entries in place; the first value each entry had is
// remembered so the sampled token's raw logprob needs no copy of the whole row.

class LogitEdits {
 public:
  explicit LogitEdits(std::span<float> logits) : logits_(logits) {}
  float get(int32_t id) const { return logits_[checked(id)]; }
  void set(int32_t id, float v) {
    saved_.emplace_back(id, logits_[checked(id)]);
    logits_[id] = v;
  }
  float raw(int32_t id) const {
    for (const auto& [i, v] : saved_) {
      if (i == id) return v;
    }
    return logits_[checked(id)];
  }
  size_t vocab() const { return logits_.size(); }

 private:
  size_t checked(int32_t id) const {
    DS_CHECK(id >= 0 && static_cast<size_t>(id) < logits_.size()) << "token id " << id << " vocab " << logits_.size();
    return static_cast<size_t>(id);
  }
  std::span<float> logits_;
  std::vector<std::pair<int32_t, float>> saved_;  // (id, value before the first edit)
};

void apply_logit_bias(const SamplingParams& p, LogitEdits& e) {
  for (const auto& [id, bias] : p.logit_bias) e.set(id, e.get(id) + bias);
}

void apply_min_tokens(const SamplingContext& ctx, LogitEdits& e) {
  if (ctx.output_ids.size() >= static_cast<size_t>(std::max(ctx.params->min_tokens, 0))) return;
  for (int32_t id : ctx.eos_ids) e.set(id, kNegInf);
  for (int32_t id : ctx.params->stop_token_ids) e.set(id, kNegInf);
}

// HF/vLLM: every id seen in prompt or output once: positive logits divided, negative multiplied.
void apply_repetition_penalty(const SamplingContext& ctx, LogitEdits& e) {
  const double rp = ctx.params->repetition_penalty;
  if (rp == 1.0) return;
  std::vector<uint8_t> seen(e.vocab(), 0);  // [vocab]
  for (std::span<const int32_t> ids : {ctx.prompt_ids, ctx.output_ids}) {
    for (int32_t id : ids) {
      const float l = e.get(id);  // checks the id's range before `seen` is indexed
      if (seen[id]) continue;
      seen[id] = 1;
      e.set(id, static_cast<float>(l > 0 ? l / rp : l * rp));
    }
  }
}

// OpenAI: logit -= presence * (count > 0) + frequency * count, counting output tokens only.
void apply_output_penalties(const SamplingContext& ctx, LogitEdits& e) {
  const double presence = ctx.params->presence_penalty;
  const double frequency = ctx.params->frequency_penalty;
  if (presence == 0.0 && frequency == 0.0) return;
  std::vector<int32_t> ids(ctx.output_ids.begin(), ctx.output_ids.end());
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const double count = static_cast<double>(j - i);
    e.set(ids[i], static_cast<float>(e.get(ids[i]) - (presence + frequency * count)));
    i = j;
  }
}

// First maximum; 0 when every entry is -inf or NaN.
int32_t argmax(std::span<const float> x) {
  size_t best = 0;
  float best_v = kNegInf;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] > best_v) {
      best_v = x[i];
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

// ---------------------------------------------------------------------------------------------
// Random sampling over candidates. Nothing sorts the vocabulary: top-k, top-p and the draw all ask
// "where, walking the candidates best first (equal logits by lower id), does the running total of
// a weight (1 for top-k, the probability otherwise) reach a target?". first_crossing answers with
// a histogram of the logits (one pass), a partition around the bucket that holds the crossing and
// a sort of that bucket alone, so the answer is the one a walk over the fully sorted list gives,
// at about three passes over the vocabulary whatever the distribution.

struct Candidate {
  double w;     // exp((logit - max_logit) / temperature): the probability up to a common factor
  float logit;  // processed logit; the order key
  int32_t id;
};

bool better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

double mass(std::span<const Candidate> c) {
  double s = 0.0;
  for (const Candidate& x : c) s += x.w;
  return s;
}

constexpr size_t kBuckets = 2048;

// Sorts `c` and returns the first position whose running total reaches `target` (the last one
// when rounding keeps the total below it).
template <class Weight>
size_t walk_sorted(std::span<Candidate> c, double target, Weight weight) {
  std::sort(c.begin(), c.end(), better);
  double acc = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    acc += weight(c[i]);
    if (acc >= target) return i;
  }
  return c.size() - 1;
}

// Reorders `c` (non-empty) and returns the position i of the first candidate, best first, at
// which the running total of weight() reaches `target`; c[0..i] are then the i+1 best candidates.
template <class Weight>
size_t first_crossing(std::span<Candidate> c, double target, Weight weight) {
  const auto [lo_it, hi_it] = std::minmax_element(c.begin(), c.end(), [](auto& a, auto& b) { return a.logit < b.logit; });
  const double hi = hi_it->logit, lo = lo_it->logit;
  if (c.size() <= kBuckets || hi == lo) return walk_sorted(c, target, weight);
  // Bucket 0 holds the best logits. Rounding is monotone, so a better logit never lands later.
  const double scale = (kBuckets - 1) / (hi - lo);
  const auto bucket = [&](const Candidate& x) { return static_cast<size_t>((hi - x.logit) * scale); };
  std::vector<double> totals(kBuckets, 0.0);
  for (const Candidate& x : c) totals[bucket(x)] += weight(x);
  size_t b = 0;
  double before = 0.0;  // total of the buckets better than b
  while (b + 1 < kBuckets && before + totals[b] < target) before += totals[b++];
  while (b > 0 && totals[b] == 0.0 && before + totals[b] < target) before -= totals[--b];  // rounding
  const auto first = std::partition(c.begin(), c.end(), [&](const Candidate& x) { return bucket(x) < b; });
  const auto last = std::partition(first, c.end(), [&](const Candidate& x) { return bucket(x) == b; });
  const size_t offset = static_cast<size_t>(first - c.begin());
  return offset + first_crossing(std::span<Candidate>(first, last), target - before, weight);
}

const auto kProbability = [](const Candidate& x) { return x.w; };
const auto kOne = [](const Candidate&) { return 1.0; };

// Candidates with a non-zero probability at this temperature. Non-empty: the maximum has w == 1.
std::vector<Candidate> make_candidates(std::span<const float> logits, double max_logit, double temperature) {
  std::vector<Candidate> c;
  c.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const double w = std::exp((static_cast<double>(logits[i]) - max_logit) / temperature);
    if (w > 0.0) c.push_back({w, logits[i], static_cast<int32_t>(i)});  // NaN fails w > 0
  }
  return c;
}

// top-k -> top-p -> min-p, as the header orders them. top-p's mass is measured on the top-k set
// (renormalised); min-p compares with the best probability, which no filter removes, so its set
// and top-p's are both best-first prefixes and applying min-p first gives the same intersection.
void apply_filters(const SamplingParams& p, std::vector<Candidate>& c) {
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) {
    c.resize(first_crossing(std::span<Candidate>(c), p.top_k, kOne) + 1);
  }
  const double topk_mass = mass(c);
  if (p.min_p > 0.0) {  // w is the probability relative to the best one
    std::erase_if(c, [&](const Candidate& x) { return x.w < p.min_p; });
  }
  if (p.top_p < 1.0) c.resize(first_crossing(std::span<Candidate>(c), p.top_p * topk_mass, kProbability) + 1);
}

// Uniform double in [0, 1) from the top 53 bits: same value for the same generator state on
// every standard library (std::uniform_real_distribution's algorithm is implementation-defined).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int32_t draw(std::span<const float> logits, const SamplingParams& p, std::mt19937_64* rng) {
  DS_CHECK(rng != nullptr) << "random sampling needs the sequence's generator";
  const double max_logit = max_value(logits);
  if (!std::isfinite(max_logit)) return argmax(logits);  // everything masked or +inf logits
  std::vector<Candidate> c = make_candidates(logits, max_logit, p.temperature);
  apply_filters(p, c);
  const double u = uniform01(*rng) * mass(c);
  return c[first_crossing(std::span<Candidate>(c), u, kProbability)].id;
}

}  // namespace

std::vector<float> log_softmax(std::span<const float> logits) {
  const double lse = log_sum_exp(logits);
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - lse);
  return out;
}

SampledToken sample_token(std::span<float> logits, const SamplingContext& ctx) {
  DS_CHECK(ctx.params != nullptr);
  DS_CHECK(!logits.empty());
  const SamplingParams& p = *ctx.params;
  SampledToken out;
  const double lse = log_sum_exp(logits);
  if (p.logprobs && *p.logprobs > 0) out.top = top_logprobs(logits, static_cast<size_t>(*p.logprobs), lse);

  LogitEdits edits(logits);
  apply_logit_bias(p, edits);
  apply_min_tokens(ctx, edits);
  apply_repetition_penalty(ctx, edits);
  apply_output_penalties(ctx, edits);

  out.id = p.greedy() ? argmax(logits) : draw(logits, p, ctx.rng);
  out.logprob = static_cast<float>(edits.raw(out.id) - lse);
  return out;
}

}  // namespace ds
