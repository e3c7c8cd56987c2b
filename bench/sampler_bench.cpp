// Host sampler cost per token at a Qwen2-sized vocabulary (152064), by sampling mode.
#include <benchmark/benchmark.h>

#include <random>

#include "engine/sampler.h"

namespace {

std::vector<float> random_logits(size_t n) {
  std::mt19937_64 g(9);
  std::normal_distribution<float> d(0.f, 2.5f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

void run(benchmark::State& state, ds::SamplingParams p) {
  const std::vector<float> logits = random_logits(152064);
  std::vector<float> row;
  std::mt19937_64 rng(1);
  std::vector<int32_t> prompt = {1, 2, 3};
  ds::SamplingContext ctx{&p, prompt, {}, {}, &rng};
  for (auto _ : state) {
    row = logits;
    benchmark::DoNotOptimize(ds::sample_token(row, ctx).id);
  }
}

ds::SamplingParams greedy() { ds::SamplingParams p; p.temperature = 0; return p; }
ds::SamplingParams top_k() { ds::SamplingParams p; p.top_k = 50; return p; }
ds::SamplingParams top_p() { ds::SamplingParams p; p.top_p = 0.95; return p; }
ds::SamplingParams all() { ds::SamplingParams p; p.top_k = 50; p.top_p = 0.9; p.min_p = 0.05; p.logprobs = 5; return p; }

BENCHMARK_CAPTURE(run, greedy, greedy())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(run, temperature_1, ds::SamplingParams{})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(run, top_k_50, top_k())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(run, top_p_095, top_p())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(run, all_filters_logprobs, all())->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
