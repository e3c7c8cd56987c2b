// cpu::paged_attention of decode rows at the 1.5B's heads (12 query heads, 2 KV heads, head_dim 128,
// 16-token blocks), float32 and bfloat16 caches (--kv-cache-dtype): one sequence at 512-8,192 keys,
// and 8 sequences; and one KV head (6 query heads) at 8,192 keys, fewer (token, KV head) items than
// threads: its chunks of keys spread (run it with OMP_NUM_THREADS=1 and 2). Reported as K/V GB/s
// (each KV head's rows read once would be the floor; bytes of the cache's dtype) and key-heads per
// second.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_attention.h"

namespace {

void run(benchmark::State& state, ds::DType cache_dtype) {
  const int32_t ctx = int32_t(state.range(0)), seqs = int32_t(state.range(1));
  const int64_t hk = state.range(2), hq = 6 * hk, d = 128, bs = 16;
  const int32_t blocks_per_seq = (ctx + int32_t(bs) - 1) / int32_t(bs);
  const int64_t blocks = int64_t(blocks_per_seq) * seqs;
  std::mt19937_64 g(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // The caches as the engine has them: the CPU backend's buffers (aligned; huge pages from 2 MiB).
  const size_t nkv = size_t(blocks * bs * hk * d), es = ds::dtype_size(cache_dtype);
  const std::unique_ptr<ds::Backend> be = ds::make_cpu_backend({});
  const auto kbuf = be->alloc(nkv * es), vbuf = be->alloc(nkv * es);
  for (auto* buf : {kbuf.get(), vbuf.get()}) {
    for (size_t i = 0; i < nkv; ++i) {
      if (cache_dtype == ds::DType::kF32) static_cast<float*>(buf->data())[i] = u(g);
      else static_cast<uint16_t*>(buf->data())[i] = ds::f32_to_bf16(u(g));
    }
  }
  std::vector<float> q(size_t(seqs * hq * d)), out(q.size());
  for (float& v : q) v = u(g);
  std::vector<int32_t> qsl, lens, tables;
  for (int32_t s = 0; s <= seqs; ++s) qsl.push_back(s);
  for (int32_t s = 0; s < seqs; ++s) lens.push_back(ctx);
  // Blocks of the sequences interleaved, as a cache filled by concurrent requests.
  for (int32_t s = 0; s < seqs; ++s)
    for (int32_t j = 0; j < blocks_per_seq; ++j) tables.push_back(j * seqs + s);
  ds::AttentionBatch b;
  b.num_seqs = seqs;
  b.query_start_loc = qsl.data();
  b.seq_lens = lens.data();
  b.block_tables = tables.data();
  b.max_blocks_per_seq = blocks_per_seq;
  b.block_size = int32_t(bs);
  b.num_decode_seqs = seqs;
  const ds::Tensor tk(kbuf->data(), cache_dtype, {blocks, bs, hk, d});
  const ds::Tensor tv(vbuf->data(), cache_dtype, {blocks, bs, hk, d});
  const ds::Tensor tq(q.data(), ds::DType::kF32, {seqs, hq * d}), to(out.data(), ds::DType::kF32, {seqs, hq * d});
  for (auto _ : state) {
    ds::cpu::paged_attention(tq, tk, tv, b, 0.088f, to);
    benchmark::DoNotOptimize(out.data());
  }
  const double kv_bytes = 2.0 * double(seqs) * ctx * hk * d * double(es);
  state.counters["kv_GBps"] = benchmark::Counter(kv_bytes * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["key_heads_per_s"] =
      benchmark::Counter(double(seqs) * ctx * hq * double(state.iterations()), benchmark::Counter::kIsRate);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"ctx", "seqs", "kv_heads"})->Args({512, 1, 2})->Args({2048, 1, 2})->Args({8192, 1, 2});
  b->Args({2048, 8, 2})->Args({8192, 1, 1});
  b->Unit(benchmark::kMillisecond);
}
BENCHMARK_CAPTURE(run, f32, ds::DType::kF32)->Apply(args);
BENCHMARK_CAPTURE(run, bf16, ds::DType::kBF16)->Apply(args);

}  // namespace

BENCHMARK_MAIN();
