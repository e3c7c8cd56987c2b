// Random sampling: the draws follow softmax(logits / temperature) (chi-square), the filters never
// let a token outside their set through, and the draw picks exactly what a walk over the fully
// sorted distribution would pick (the sampler itself never sorts the vocabulary).
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <cstdio>
#include <set>

#include "sampler_test_util.h"

namespace ds {
namespace {

using test::SamplerCase;

// Upper 0.1% points of the chi-square distribution for 1..15 degrees of freedom, from the NIST/
// SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.4 (checked against the regularised
// incomplete gamma function: each has a tail probability of 0.0010 +- 0.0000002).
constexpr double kChiSquare999[] = {10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124,
                                    27.877, 29.588, 31.264, 32.909, 34.528, 36.123, 37.697};

// Pearson's statistic; bins expected to hold fewer than 5 are pooled (the usual validity rule).
struct ChiSquare {
  double statistic;
  double critical;
};
ChiSquare chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int n) {
  double stat = 0, pooled_obs = 0, pooled_exp = 0;
  int bins = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = probs[i] * n;
    if (e < 5) {
      pooled_obs += counts[i];
      pooled_exp += e;
      continue;
    }
    stat += (counts[i] - e) * (counts[i] - e) / e;
    ++bins;
  }
  if (pooled_exp > 0) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++bins;
  }
  EXPECT_GE(bins, 2);
  return {stat, kChiSquare999[bins - 2]};
}

std::vector<int> histogram(SamplerCase& c, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[c.sample(logits).id];
  return counts;
}

// A fixed "random" row: 12 tokens whose probabilities range over about two orders of magnitude.
const std::vector<float> kRow = test::random_logits(12, 2024, 1.2f);

TEST(SamplerDistributionTest, ChiSquareMatchesSoftmaxAtTemperatureOneAndHalf) {
  constexpr int kDraws = 2000;
  for (double temperature : {1.0, 0.5}) {
    SamplerCase c;
    c.rng.seed(1234);
    c.params.temperature = temperature;
    const std::vector<int> counts = histogram(c, kRow, kDraws);
    const ChiSquare x = chi_square(counts, test::softmax(kRow, temperature), kDraws);
    EXPECT_LT(x.statistic, x.critical) << "temperature " << temperature;
  }
}

TEST(SamplerDistributionTest, ChiSquareRejectsTheWrongTemperature) {
  // Shows the test above has teeth: draws at temperature 1 do not pass as softmax(logits / 0.5).
  constexpr int kDraws = 2000;
  SamplerCase c;
  c.rng.seed(99);
  const std::vector<int> counts = histogram(c, kRow, kDraws);
  const ChiSquare x = chi_square(counts, test::softmax(kRow, 0.5), kDraws);
  EXPECT_GT(x.statistic, x.critical);
}

// Draws many tokens; all must be in the reference set, and with a small set every member appears.
void expect_only_allowed(SamplingParams p, const std::vector<float>& logits, const char* what) {
  const test::Allowed allowed = test::reference_allowed(logits, p);
  const std::set<int32_t> members(allowed.ids.begin(), allowed.ids.end());
  SamplerCase c;
  c.params = p;
  c.rng.seed(5);
  std::set<int32_t> seen;
  for (int i = 0; i < 3000; ++i) {
    const int32_t id = c.sample(logits).id;
    ASSERT_TRUE(members.count(id)) << what << ": token " << id << " is outside the allowed set";
    seen.insert(id);
  }
  if (members.size() <= 8) {
    EXPECT_EQ(seen, members) << what;
  }
}

TEST(SamplerDistributionTest, FiltersNeverEmitOutsideTheirSet) {
  const std::vector<float> logits = test::random_logits(16, 77, 1.0f);
  SamplingParams p;
  p.top_k = 3;
  expect_only_allowed(p, logits, "top_k=3");
  p = {};
  p.top_k = 1;
  expect_only_allowed(p, logits, "top_k=1");
  p = {};
  p.top_p = 0.5;
  expect_only_allowed(p, logits, "top_p=0.5");
  p = {};
  p.min_p = 0.4;
  expect_only_allowed(p, logits, "min_p=0.4");
  p = {};
  p.top_k = 8;
  p.top_p = 0.7;
  expect_only_allowed(p, logits, "top_k=8 top_p=0.7");
  p.min_p = 0.5;
  p.temperature = 1.5;
  expect_only_allowed(p, logits, "top_k=8 top_p=0.7 min_p=0.5 T=1.5");
  p = {};
  p.top_p = 0.9;
  p.min_p = 0.05;
  p.temperature = 0.6;
  expect_only_allowed(p, logits, "top_p=0.9 min_p=0.05 T=0.6");
}

TEST(SamplerDistributionTest, TopKTiesGoToLowerIds) {
  SamplingParams p;
  p.top_k = 2;
  expect_only_allowed(p, std::vector<float>(10, 1.f), "equal logits");
  const test::Allowed a = test::reference_allowed(std::vector<float>(10, 1.f), p);
  EXPECT_EQ(a.ids, (std::vector<int32_t>{0, 1}));
}

TEST(SamplerDistributionTest, TopPKeepsAtLeastOneToken) {
  SamplingParams p;
  p.top_p = 1e-6;
  expect_only_allowed(p, test::random_logits(16, 8, 0.1f), "tiny top_p");
}

// The bisection-based draw must give exactly the token a walk over the fully sorted, filtered
// distribution gives for the same generator state.
void expect_same_as_reference(SamplingParams p, const std::vector<float>& logits, int n, const char* what) {
  const test::Allowed allowed = test::reference_allowed(logits, p);
  SamplerCase c;
  c.params = p;
  c.rng.seed(31337);
  std::mt19937_64 ref_rng(31337);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(c.sample(logits).id, test::reference_draw(allowed, ref_rng)) << what << " draw " << i;
  }
}

TEST(SamplerDistributionTest, DrawMatchesSortedWalk) {
  const std::vector<float> small = test::random_logits(16, 21, 1.5f);
  expect_same_as_reference({}, small, 2000, "small, no filter");
  const std::vector<float> large = test::random_logits(152064, 22, 2.0f);
  SamplingParams p;
  expect_same_as_reference(p, large, 100, "large, no filter");
  p.top_p = 0.9;
  expect_same_as_reference(p, large, 100, "large, top_p");
  p.top_k = 1000;
  p.min_p = 0.01;
  expect_same_as_reference(p, large, 100, "large, top_k top_p min_p");
}

TEST(SamplerDistributionTest, LargeVocabTiesBreakByLowerId) {
  // Logits on a coarse grid: thousands of exact ties, so filter boundaries fall inside tie groups.
  std::vector<float> logits = test::random_logits(152064, 23, 2.0f);
  for (float& x : logits) x = std::round(x * 2.f) / 2.f;
  SamplingParams p;
  p.top_k = 1000;
  expect_same_as_reference(p, logits, 50, "grid, top_k");
  p.top_k = 0;
  p.top_p = 0.3;
  expect_same_as_reference(p, logits, 50, "grid, top_p");
  expect_same_as_reference({}, std::vector<float>(5000, 0.25f), 50, "all equal");
}

}  // namespace
}  // namespace ds
