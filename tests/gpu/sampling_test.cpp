// The CUDA DeviceSampler against the host: greedy ids and logprobs/top-n equal the host sampler's
// (engine/sampler.cpp), the processors (logit_bias, min_tokens, penalties) give the host sampler's
// argmax, random draws equal a host implementation of the same algorithm given the same Philox
// numbers, a chi-square test against the exact filtered distribution, batch invariance of seeded
// rows, and empty / one-row batches.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "engine/device_sampling.h"
#include "engine/sampler.h"
#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

constexpr int64_t kVocab = 151936;

DeviceSampler& sampler() {
  DeviceSampler* s = gpu().sampler();
  DS_CHECK(s != nullptr);
  return *s;
}

std::vector<SampleResult> run(const std::vector<float>& logits, int64_t vocab, const SampleBatch& b) {
  const int64_t rows = int64_t(logits.size()) / vocab;
  DevTensor d = upload(logits, DType::kF32, {rows, vocab});
  std::vector<SampleResult> out(b.rows.size());
  for (auto& r : out) std::memset(static_cast<void*>(&r), 0xFF, sizeof r);  // poisoned
  sampler().sample(d.t, b, out);
  return out;
}

// Normal logits (scale 3), a few exact ties with the row maximum, optional -inf / NaN entries.
std::vector<float> random_logits(std::mt19937_64& rng, int64_t rows, int64_t vocab, bool specials) {
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<float> x(size_t(rows * vocab));
  for (auto& v : x) v = nd(rng);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * vocab;
    const float m = *std::max_element(row, row + vocab);
    for (int k = 0; k < 3; ++k) row[rng() % uint64_t(vocab)] = m;  // ties at the maximum
    for (int k = 0; k < 3; ++k) row[rng() % uint64_t(vocab)] = row[rng() % uint64_t(vocab)];  // other ties
    if (specials) {
      row[rng() % uint64_t(vocab)] = -INFINITY;
      row[rng() % uint64_t(vocab)] = NAN;
    }
  }
  return x;
}

struct Seq {
  SamplingParams params;
  std::vector<int32_t> prompt, output, eos;
  SamplingContext ctx(std::mt19937_64* rng = nullptr) const { return {&params, prompt, output, eos, rng}; }
};

// The processed row: the device's adjustments applied on the host (same arithmetic).
std::vector<float> processed(const float* raw, int64_t vocab, const SampleBatch& b, const SampleRow& r) {
  std::vector<float> p(raw, raw + vocab);
  for (int32_t k = r.adj_begin; k < r.adj_end; ++k) {
    const LogitAdjustment& a = b.adjustments[size_t(k)];
    p[size_t(a.token)] = adjusted_logit(raw[a.token], a, r);
  }
  return p;
}

// Host Gumbel-max with the device's Philox numbers; `margin` = best score - second best.
int32_t ref_gumbel(const std::vector<float>& p, const SampleRow& r, float* margin) {
  float best = -INFINITY, second = -INFINITY;
  int32_t id = 0;
  bool found = false;
  for (size_t g = 0; g < (p.size() + 3) / 4; ++g) {
    const Philox4 u = philox_words(r.seed, r.step, uint32_t(g), kPhiloxGumbel);
    for (size_t k = 0; k < 4 && g * 4 + k < p.size(); ++k) {
      const float s = p[g * 4 + k] / float(r.temperature) - std::log(-std::log(philox_uniform_open(u.v[k])));
      if (!(s > -INFINITY)) continue;
      if (!found || s > best) {
        second = best;
        best = s;
        id = int32_t(g * 4 + k);
        found = true;
      } else if (s > second) {
        second = s;
      }
    }
  }
  *margin = best - second;
  return id;
}

// Host version of the sorted draw: stable sort best first, weights in double, top-k -> min-p ->
// top-p (on the top-k mass) -> crossing of u * mass. `margin`: the draw's distance from a bucket edge.
int32_t ref_sorted(const std::vector<float>& p0, const SampleRow& r, double* margin) {
  std::vector<float> p = p0;
  for (float& v : p) v = std::isnan(v) ? -INFINITY : v;
  std::vector<int32_t> ids(p.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
  *margin = 1.0;
  const double top = p[size_t(ids[0])];
  if (!std::isfinite(top)) return ids[0];
  std::vector<double> w;
  for (int32_t id : ids) {
    const double x = std::exp((double(p[size_t(id)]) - top) / r.temperature);
    if (!(x > 0.0)) break;
    w.push_back(x);
  }
  size_t n = w.size();
  if (r.top_k > 0 && size_t(r.top_k) < n) n = size_t(r.top_k);
  const double topk_mass = std::accumulate(w.begin(), w.begin() + std::ptrdiff_t(n), 0.0);
  if (r.min_p > 0.0) n = size_t(std::find_if(w.begin(), w.begin() + std::ptrdiff_t(n), [&](double x) { return x < r.min_p; }) - w.begin());
  const auto crossing = [&](size_t m, double target) {
    double acc = 0.0;
    for (size_t i = 0; i < m; ++i) {
      acc += w[i];
      if (acc >= target) {
        *margin = std::min(*margin, std::min(acc - target, target - (acc - w[i])) / target);
        return i;
      }
    }
    return m - 1;
  };
  if (r.top_p < 1.0) n = crossing(n, r.top_p * topk_mass) + 1;
  const double mass = std::accumulate(w.begin(), w.begin() + std::ptrdiff_t(n), 0.0);
  const Philox4 u = philox_words(r.seed, r.step, 0, kPhiloxFilteredDraw);
  return ids[crossing(n, philox_uniform53(u.v[0], u.v[1]) * mass)];
}

TEST(GpuSampling, EmptyAndOneRow) {
  std::vector<float> logits(size_t(kVocab), 0.f);
  logits[777] = 5.f;
  SampleBatch b;
  EXPECT_TRUE(run(logits, kVocab, b).empty());
  SampleRow r;
  r.temperature = 0.0;
  b.rows.push_back(r);
  const auto out = run(logits, kVocab, b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 777);
  EXPECT_EQ(out[0].num_top, 0);
  EXPECT_NEAR(out[0].logprob, 5.f - std::log(std::exp(5.) + double(kVocab - 1)), 1e-4);
}

TEST(GpuSampling, GreedyAndLogprobsMatchHostSampler) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // 12 rows: the few-rows path (results written to mapped host memory); 80: the many-rows path.
  for (const auto& [vocab, rows] : {std::pair{kVocab, int64_t(12)}, std::pair{kVocab, int64_t(80)},
                                    std::pair{int64_t(1001), int64_t(12)}, std::pair{int64_t(5), int64_t(80)}}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab) + " rows " + std::to_string(rows));
    std::vector<float> logits = random_logits(rng, rows, vocab, true);
    // Row 1: every entry -inf (the host then picks id 0); row 2: all equal.
    std::fill_n(logits.begin() + vocab, vocab, -INFINITY);
    std::fill_n(logits.begin() + 2 * vocab, vocab, 0.25f);
    SampleBatch b;
    std::vector<Seq> seqs(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      Seq& s = seqs[size_t(r)];
      s.params.temperature = 0.0;
      // Every fourth row asks for no logprobs: the argmax pass without the log-sum-exp.
      if (r % 4 != 3) s.params.logprobs = int32_t(r % 3 == 0 ? 20 : r % 3 == 1 ? 0 : 5);
      add_sample_row(s.ctx(), int32_t(r), 0, b);
    }
    const auto out = run(logits, vocab, b);
    for (int64_t r = 0; r < rows; ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      std::vector<float> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
      const SampledToken want = sample_token(row, seqs[size_t(r)].ctx());
      const SampledToken got = to_sampled_token(out[size_t(r)]);
      EXPECT_EQ(got.id, want.id);
      if (!seqs[size_t(r)].params.logprobs) {
        EXPECT_EQ(got.logprob, 0.f);  // not wanted: not computed
      } else if (std::isfinite(want.logprob)) {
        EXPECT_NEAR(got.logprob, want.logprob, 1e-4);
      } else {
        EXPECT_EQ(std::isnan(got.logprob), std::isnan(want.logprob));
      }
      ASSERT_EQ(got.top.size(), want.top.size());
      for (size_t k = 0; k < want.top.size(); ++k) {
        EXPECT_EQ(got.top[k].first, want.top[k].first) << k;
        if (std::isfinite(want.top[k].second)) {
          EXPECT_NEAR(got.top[k].second, want.top[k].second, 1e-4) << k;
        }
      }
    }
    // A row alone (the few-rows path) gives the bits it gave in the batch.
    for (const int64_t r : {int64_t(0), int64_t(3), int64_t(7), rows - 1}) {
      SCOPED_TRACE("alone: row " + std::to_string(r));
      SampleBatch one;
      add_sample_row(seqs[size_t(r)].ctx(), int32_t(r), 0, one);
      const SampleResult a = run(logits, vocab, one).at(0), &w = out[size_t(r)];
      EXPECT_EQ(a.id, w.id);
      EXPECT_EQ(std::memcmp(&a.logprob, &w.logprob, sizeof(float)), 0);
      ASSERT_EQ(a.num_top, w.num_top);
      EXPECT_EQ(std::memcmp(a.top_ids, w.top_ids, size_t(a.num_top) * sizeof(int32_t)), 0);
      EXPECT_EQ(std::memcmp(a.top_logprobs, w.top_logprobs, size_t(a.num_top) * sizeof(float)), 0);
    }
  }
}

// A batch whose rows are all greedy without logprobs or adjusted tokens takes the plain argmax
// kernel (sampling.cu: sample_plain_kernel); a batch with one row that wants a logprob
// takes the general one. Both give the host sampler's ids (first maximum; -inf and NaN skipped),
// and the same ids as each other; several waves of blocks (300 rows), a vocabulary smaller than
// the slices.
TEST(GpuSampling, PlainGreedyBatchMatchesHostSampler) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const auto& [vocab, rows] : {std::pair{kVocab, int64_t(12)}, std::pair{kVocab, int64_t(80)},
                                    std::pair{kVocab, int64_t(300)}, std::pair{int64_t(1001), int64_t(80)},
                                    std::pair{int64_t(5), int64_t(12)}}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab) + " rows " + std::to_string(rows));
    std::vector<float> logits = random_logits(rng, rows, vocab, true);
    std::fill_n(logits.begin() + vocab, vocab, -INFINITY);  // row 1: the host picks id 0
    std::fill_n(logits.begin() + 2 * vocab, vocab, 0.25f);  // row 2: all equal
    if (vocab > 100) {  // row 3: the maximum in the last slice and, later found, in the first
      logits[size_t(3 * vocab + vocab - 2)] = 1e4f;
      logits[size_t(3 * vocab + 7)] = 1e4f;
    }
    std::vector<Seq> seqs(static_cast<size_t>(rows));
    SampleBatch plain, general;
    for (int64_t r = 0; r < rows; ++r) {
      seqs[size_t(r)].params.temperature = 0.0;
      add_sample_row(seqs[size_t(r)].ctx(), int32_t(r), 0, plain);
      ASSERT_FALSE(plain.rows.back().want_logprob);
      ASSERT_EQ(plain.rows.back().adj_begin, plain.rows.back().adj_end);
    }
    general = plain;
    general.rows.back().want_logprob = true;
    const auto got = run(logits, vocab, plain), other = run(logits, vocab, general);
    for (int64_t r = 0; r < rows; ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      std::vector<float> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
      EXPECT_EQ(got[size_t(r)].id, sample_token(row, seqs[size_t(r)].ctx()).id);
      EXPECT_EQ(got[size_t(r)].id, other[size_t(r)].id);
      EXPECT_EQ(got[size_t(r)].logprob, 0.f);
      EXPECT_EQ(got[size_t(r)].num_top, 0);
    }
    if (vocab > 100) {
      EXPECT_EQ(got[3].id, 7);
    }
  }
}

// Greedy after logit_bias, min_tokens masking and the three penalties: the host sampler's argmax.
TEST(GpuSampling, ProcessorsMatchHostSampler) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t rows = 24;
  std::vector<float> logits = random_logits(rng, rows, kVocab, false);
  SampleBatch b;
  std::vector<Seq> seqs(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    Seq& s = seqs[size_t(r)];
    const float* row = logits.data() + r * kVocab;
    std::vector<int32_t> ranked(static_cast<size_t>(kVocab));
    std::iota(ranked.begin(), ranked.end(), 0);
    std::partial_sort(ranked.begin(), ranked.begin() + 8, ranked.end(), [&](int32_t a, int32_t c) { return row[a] > row[c]; });
    s.params.temperature = 0.0;
    s.params.logprobs = 3;
    s.eos = {ranked[0], 5};
    if (r % 4 == 0) s.params.logit_bias = {{ranked[1], -50.f}, {ranked[5], 2.5f}, {int32_t(rng() % kVocab), 8.f}};
    if (r % 4 == 1) s.params.min_tokens = 3, s.params.stop_token_ids = {ranked[1], ranked[2]};
    s.params.repetition_penalty = r % 3 == 0 ? 1.0 : 1.3 + 0.1 * double(r % 5);
    s.params.presence_penalty = (r % 5) * 0.4 - 0.8;
    s.params.frequency_penalty = (r % 7) * 0.3 - 0.9;
    for (int k = 0; k < 30; ++k) s.prompt.push_back(k < 3 ? ranked[size_t(k)] : int32_t(rng() % kVocab));
    for (int k = 0; k < int(r % 6); ++k) s.output.push_back(ranked[size_t(rng() % 8)]);
    add_sample_row(s.ctx(), int32_t(r), 0, b);
  }
  const auto out = run(logits, kVocab, b);
  for (int64_t r = 0; r < rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    std::vector<float> row(logits.begin() + r * kVocab, logits.begin() + (r + 1) * kVocab);
    const SampledToken want = sample_token(row, seqs[size_t(r)].ctx());
    EXPECT_EQ(out[size_t(r)].id, want.id);
    EXPECT_NEAR(out[size_t(r)].logprob, want.logprob, 1e-4);
    ASSERT_EQ(out[size_t(r)].num_top, 3);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(out[size_t(r)].top_ids[k], want.top[size_t(k)].first);
  }
}

// Random rows of every kind (with processors) against the host implementation of the same draw.
TEST(GpuSampling, DrawsMatchHostReferenceWithSamePhilox) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t rows = 40;
  std::vector<float> logits = random_logits(rng, rows, kVocab, true);
  SampleBatch b;
  std::vector<Seq> seqs(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    Seq& s = seqs[size_t(r)];
    SamplingParams& p = s.params;
    p.temperature = r % 2 ? 1.0 : 0.5;
    switch (r % 5) {
      case 0: break;  // pure temperature (Gumbel-max)
      case 1: p.top_k = 1 + int32_t(rng() % 100); break;
      case 2: p.top_p = 0.5 + 0.1 * double(r % 5); break;
      case 3: p.min_p = 0.05; break;
      case 4: p.top_k = 50, p.top_p = 0.9, p.min_p = 0.01; break;
    }
    if (r % 3 == 0) p.logit_bias = {{int32_t(rng() % kVocab), 30.f}};
    if (r % 4 == 0) p.repetition_penalty = 1.2, p.frequency_penalty = 0.5;
    for (int k = 0; k < 10; ++k) s.prompt.push_back(int32_t(rng() % kVocab));
    for (int k = 0; k < int(r % 4); ++k) s.output.push_back(int32_t(rng() % kVocab));
    if (r % 3 != 2) p.logprobs = 0;  // the others want no logprob: the same draw, no log-sum-exp
    add_sample_row(s.ctx(), int32_t(r), rng(), b);
  }
  const auto out = run(logits, kVocab, b);
  int near_ties = 0;
  for (int64_t r = 0; r < rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const SampleRow& row = b.rows[size_t(r)];
    const float* raw = logits.data() + r * kVocab;
    const std::vector<float> p = processed(raw, kVocab, b, row);
    int32_t want;
    bool tie;
    if (needs_sorted_draw(row, kVocab)) {
      double margin;
      want = ref_sorted(p, row, &margin);
      tie = margin < 1e-6;  // the candidate draw sums the weight outside its candidates in float
    } else {
      float margin;
      want = ref_gumbel(p, row, &margin);
      tie = margin < 1e-4f;
    }
    if (tie) {
      ++near_ties;
      continue;
    }
    EXPECT_EQ(out[size_t(r)].id, want);
    if (!row.want_logprob) {
      EXPECT_EQ(out[size_t(r)].logprob, 0.f);
      continue;
    }
    std::vector<float> copy(raw, raw + kVocab);
    double lse = 0;
    for (float v : copy) if (std::isfinite(v)) lse += std::exp(double(v));
    EXPECT_NEAR(out[size_t(r)].logprob, raw[want] - std::log(lse), 1e-4);
  }
  EXPECT_LE(near_ties, 2);
}

// The candidate draw (the rows' best entries only) and its fall-back to the full sort: every row
// against the host reference, and each row kind on the path it must take.
TEST(GpuSampling, CandidateDrawAndFullSortMatchHostReference) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  enum Kind { kPeaked, kPeakedAdjusted, kTopK, kFlat, kTopKPastCap, kTinyMinP, kInfinite, kKinds };
  const char* names[kKinds] = {"peaked", "peaked+adjusted", "top_k=1000", "flat", "top_k=3000", "min_p=1e-12", "+inf"};
  const int64_t rows = 3 * kKinds;
  const auto kind_of = [](int64_t r) { return int(r % kKinds); };
  std::vector<float> logits = random_logits(rng, rows, kVocab, true);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  SampleBatch b;
  std::vector<Seq> seqs(static_cast<size_t>(rows));
  int64_t want_candidates = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int kind = kind_of(r);
    float* row = logits.data() + r * kVocab;
    Seq& s = seqs[size_t(r)];
    SamplingParams& p = s.params;
    p.temperature = 1.0;
    switch (kind) {
      case kPeaked:
      case kPeakedAdjusted:  // a trained model's shape: a few dozen plausible tokens far above the rest
        for (int k = 0; k < 24; ++k) row[rng() % uint64_t(kVocab)] = 30.f + 0.5f * float(k) + ud(rng);
        p.temperature = 0.6, p.top_p = 0.95;
        if (kind == kPeakedAdjusted) {
          p.logit_bias = {{int32_t(rng() % kVocab), 36.f}};  // a new maximum
          p.repetition_penalty = 1.3, p.min_p = 0.02;
          for (int k = 0; k < 20; ++k) s.prompt.push_back(int32_t(rng() % kVocab));
          const int32_t best = int32_t(std::max_element(row, row + kVocab) - row);
          s.prompt.push_back(best);  // the raw maximum is penalized
        }
        break;
      case kTopK: p.top_k = 1000; break;
      case kFlat:  // no 2,048 best entries hold the top-p mass
        for (int64_t i = 0; i < kVocab; ++i) row[i] = ud(rng);
        p.top_p = 0.9;
        break;
      case kTopKPastCap: p.top_k = 3000, p.top_p = 0.9; break;
      case kTinyMinP: p.min_p = 1e-12; break;
      case kInfinite: row[rng() % uint64_t(kVocab)] = INFINITY, p.top_p = 0.8; break;
    }
    if (kind <= kTopK) ++want_candidates;
    if (r % 2) p.logprobs = 0;
    add_sample_row(s.ctx(), int32_t(r), rng(), b);
  }
  const SortedDrawCounts before = sampler().sorted_draw_counts();
  const auto out = run(logits, kVocab, b);
  const SortedDrawCounts after = sampler().sorted_draw_counts();
  EXPECT_EQ(after.candidates - before.candidates, want_candidates);
  EXPECT_EQ(after.full_sorts - before.full_sorts, rows - want_candidates);
  int near_ties = 0;
  for (int64_t r = 0; r < rows; ++r) {
    SCOPED_TRACE(std::string("row ") + std::to_string(r) + " " + names[kind_of(r)]);
    const SampleRow& row = b.rows[size_t(r)];
    ASSERT_TRUE(needs_sorted_draw(row, kVocab));
    const float* raw = logits.data() + r * kVocab;
    double margin;
    const int32_t want = ref_sorted(processed(raw, kVocab, b, row), row, &margin);
    if (margin < (kind_of(r) <= kTopK ? 1e-6 : 1e-9)) {  // the full sort's sums are all in double
      ++near_ties;
      continue;
    }
    EXPECT_EQ(out[size_t(r)].id, want);
    if (row.want_logprob && std::isfinite(raw[want])) {
      double lse = 0;
      for (int64_t i = 0; i < kVocab; ++i) if (std::isfinite(raw[i])) lse += std::exp(double(raw[i]) - 40.0);
      EXPECT_NEAR(out[size_t(r)].logprob, raw[want] - 40.0 - std::log(lse), 1e-4);
    }
  }
  EXPECT_LE(near_ties, 1);
}

// Chi-square of many GPU draws against the exact filtered distribution (vocab 64).
TEST(GpuSampling, ChiSquareAgainstExactDistribution) {
  const int64_t vocab = 64;
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) logits[size_t(i)] = 2.f * std::sin(float(i) * 0.7f) - 0.05f * float(i);
  struct Case { const char* name; double t; int32_t top_k; double top_p, min_p; };
  for (const Case c : {Case{"T=1", 1.0, 0, 1.0, 0.0}, Case{"T=0.5", 0.5, 0, 1.0, 0.0}, Case{"top_k=10", 1.0, 10, 1.0, 0.0},
                       Case{"top_p=0.8", 1.0, 0, 0.8, 0.0}, Case{"min_p=0.1", 0.7, 0, 1.0, 0.1},
                       Case{"all", 1.0, 20, 0.9, 0.02}}) {
    SCOPED_TRACE(c.name);
    // The exact distribution: softmax(l / T) filtered as the host sampler filters.
    std::vector<int32_t> ids(static_cast<size_t>(vocab));
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    std::vector<double> w;
    for (int32_t id : ids) w.push_back(std::exp((logits[size_t(id)] - logits[size_t(ids[0])]) / c.t));
    size_t n = w.size();
    if (c.top_k > 0) n = std::min(n, size_t(c.top_k));
    const double topk_mass = std::accumulate(w.begin(), w.begin() + std::ptrdiff_t(n), 0.0);
    if (c.min_p > 0) n = size_t(std::find_if(w.begin(), w.begin() + std::ptrdiff_t(n), [&](double x) { return x < c.min_p; }) - w.begin());
    if (c.top_p < 1.0) {
      double acc = 0;
      size_t i = 0;
      while (i + 1 < n && (acc += w[i]) < c.top_p * topk_mass) ++i;
      n = i + 1;
    }
    std::vector<double> expect(size_t(vocab), 0.0);
    const double mass = std::accumulate(w.begin(), w.begin() + std::ptrdiff_t(n), 0.0);
    for (size_t i = 0; i < n; ++i) expect[size_t(ids[i])] = w[i] / mass;

    SampleBatch b;
    const int rows = 4096, rounds = 8;
    std::vector<double> count(size_t(vocab), 0.0);
    for (int round = 0; round < rounds; ++round) {
      b.clear();
      for (int r = 0; r < rows; ++r) {
        SampleRow s;
        s.temperature = c.t, s.top_k = c.top_k, s.top_p = c.top_p, s.min_p = c.min_p;
        s.seed = uint64_t(r) * 7919 + 13;
        s.step = uint64_t(round);
        b.rows.push_back(s);
      }
      for (const SampleResult& res : run(logits, vocab, b)) count[size_t(res.id)] += 1;
    }
    const double total = double(rows) * rounds;
    double chi2 = 0, outside = 0;
    int df = -1;
    double pooled_obs = 0, pooled_exp = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      const double e = expect[size_t(i)] * total;
      if (e == 0) {
        outside += count[size_t(i)];
      } else if (e < 5) {
        pooled_obs += count[size_t(i)], pooled_exp += e;
      } else {
        chi2 += (count[size_t(i)] - e) * (count[size_t(i)] - e) / e, ++df;
      }
    }
    if (pooled_exp > 0) chi2 += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp, ++df;
    EXPECT_EQ(outside, 0) << "draws outside the filtered set";
    // Wilson-Hilferty: the chi-square quantile at z = 4.75 (p ~ 1e-6).
    const double k = std::max(df, 1), z = 4.75;
    const double crit = k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
    EXPECT_LT(chi2, crit) << "df " << df;
  }
}

// A seeded sequence draws the same ids alone and inside a batch of 16 unrelated rows.
TEST(GpuSampling, SeededRowIsBatchInvariant) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t rows = 16;
  std::vector<float> logits = random_logits(rng, rows, kVocab, false);
  for (const int kind : {0, 1, 2}) {  // greedy, Gumbel, sorted
    SampleRow mine;
    mine.temperature = kind == 0 ? 0.0 : 0.8;
    mine.top_p = kind == 2 ? 0.95 : 1.0;
    mine.seed = 1234567;
    mine.num_logprobs = 4;
    for (uint64_t step = 0; step < 4; ++step) {
      mine.step = step;
      mine.logits_row = 5;
      SampleBatch alone;
      alone.rows.push_back(mine);
      const auto a = run(logits, kVocab, alone);
      SampleBatch many;
      for (int64_t r = 0; r < rows; ++r) {
        SampleRow o;
        o.logits_row = int32_t(r);
        o.temperature = double(r % 3) * 0.6;
        o.top_k = r % 4 == 1 ? 40 : 0;
        o.seed = rng();
        many.rows.push_back(r == 9 ? mine : o);
      }
      const auto m = run(logits, kVocab, many);
      EXPECT_EQ(a[0].id, m[9].id) << "kind " << kind << " step " << step;
      EXPECT_EQ(a[0].logprob, m[9].logprob);
      for (int k = 0; k < 4; ++k) EXPECT_EQ(a[0].top_ids[k], m[9].top_ids[k]);
    }
  }
}

}  // namespace
}  // namespace ds::gputest
