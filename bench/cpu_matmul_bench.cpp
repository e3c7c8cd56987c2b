// cpu::matmul per instruction-set path at the 1.5B's layer shapes (bf16 weights): T = 1 is a decode
// step's weight stream (reported as weight GB/s, against bench_membw's read bandwidth), larger T the
// prefill's compute (GFLOP/s). gate|up (55 MB) is well above a small machine's L3; down_proj (27.5 MB)
// may partly stay in a 16 MB L3 between iterations (read its T = 1 rate as an upper bound).
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_matmul.h"

namespace {

using ds::cpu::MatmulIsa;

void run(benchmark::State& state, MatmulIsa isa, int64_t n, int64_t k) {
  if (!ds::cpu::matmul_isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const int64_t t = state.range(0);
  std::mt19937_64 g(3);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  // The CPU backend's own buffers, as the engine's activations and dummy weights are.
  const std::unique_ptr<ds::Backend> be = ds::make_cpu_backend({});
  const auto wbuf = be->alloc(size_t(n * k) * 2), xbuf = be->alloc(size_t(t * k) * 4);
  const auto obuf = be->alloc(size_t(t * n) * 4);
  auto* w = static_cast<uint16_t*>(wbuf->data());
  auto* x = static_cast<float*>(xbuf->data());
  for (int64_t i = 0; i < n * k; ++i) w[i] = ds::f32_to_bf16(d(g) * 0.05f);
  for (int64_t i = 0; i < t * k; ++i) x[i] = d(g);
  const ds::Tensor tx(x, ds::DType::kF32, {t, k}), tw(w, ds::DType::kBF16, {n, k});
  const ds::Tensor to(obuf->data(), ds::DType::kF32, {t, n});
  for (auto _ : state) {
    ds::cpu::matmul(tx, tw, ds::Tensor(), to, isa);
    benchmark::DoNotOptimize(obuf->data());
  }
  state.counters["weight_GBps"] =
      benchmark::Counter(double(n * k) * 2 * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * double(t * n * k) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// 1.5B: gate|up [17920 x 1536] and down_proj [1536 x 8960].
void args(benchmark::internal::Benchmark* b) { b->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond); }
BENCHMARK_CAPTURE(run, gate_up_avx2, MatmulIsa::kAvx2, 17920, 1536)->Apply(args);
BENCHMARK_CAPTURE(run, down_avx2, MatmulIsa::kAvx2, 1536, 8960)->Apply(args);
BENCHMARK_CAPTURE(run, down_scalar, MatmulIsa::kScalar, 1536, 8960)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
