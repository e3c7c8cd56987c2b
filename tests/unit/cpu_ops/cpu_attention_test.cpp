// cpu::paged_attention (the AVX2 form where the CPU has it) against paged_attention_reference (one
// query head at a time, scalar): decode and prefill rows of several sequences at once, GQA groups
// 1, 6 and 7, head_dim 64, 128 and 44 (an 8-block and a scalar tail), contexts across block boundaries, scattered
// blocks; and batch invariance: a row alone gives the bits it gave in the batch. bfloat16 and float16
// caches (--kv-cache-dtype): both forms give the bits they give on a float32 cache holding the same
// (rounded) values, and store_kv rounds to nearest even. Long contexts (chunks of keys merged) on
// one thread and on all.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_attention.h"

namespace ds::cpu {
namespace {

struct Case {
  int64_t hq, hk, d;
  std::vector<int32_t> q_lens, ctx;  // per sequence: query rows (the last ones of its context)
};

struct Batch {
  std::vector<int32_t> qsl, lens, tables;
  AttentionBatch b;
  int64_t blocks = 0;
};

Batch make_batch(const Case& c, int32_t block_size, std::mt19937_64& rng) {
  Batch m;
  m.qsl.push_back(0);
  int32_t max_blocks = 0;
  for (size_t s = 0; s < c.ctx.size(); ++s) {
    m.qsl.push_back(m.qsl.back() + c.q_lens[s]);
    m.lens.push_back(c.ctx[s]);
    max_blocks = std::max(max_blocks, (c.ctx[s] + block_size - 1) / block_size);
  }
  m.blocks = int64_t(max_blocks) * int64_t(c.ctx.size());
  std::vector<int32_t> ids(size_t(m.blocks));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
  std::shuffle(ids.begin(), ids.end(), rng);  // scattered blocks
  m.tables = ids;
  m.b.num_seqs = int32_t(c.ctx.size());
  m.b.query_start_loc = m.qsl.data();
  m.b.seq_lens = m.lens.data();
  m.b.block_tables = m.tables.data();
  m.b.max_blocks_per_seq = max_blocks;
  m.b.block_size = block_size;
  return m;
}

TEST(CpuAttention, FastFormMatchesReference) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int32_t bs = 16;
  for (const Case& c : {Case{12, 2, 128, {1, 1, 5}, {1, 300, 37}}, Case{7, 1, 64, {1, 16}, {17, 16}},
                        Case{4, 2, 44, {3, 1}, {33, 1000}}, Case{28, 4, 128, {1}, {2049}}}) {
    SCOPED_TRACE("hq " + std::to_string(c.hq) + " hk " + std::to_string(c.hk) + " d " + std::to_string(c.d));
    Batch m = make_batch(c, bs, rng);
    int64_t tokens = 0;
    for (int32_t n : c.q_lens) tokens += n;
    std::vector<float> kc(size_t(m.blocks * bs * c.hk * c.d)), vc(kc.size()), q(size_t(tokens * c.hq * c.d));
    for (float& v : kc) v = nd(rng);
    for (float& v : vc) v = nd(rng);
    for (float& v : q) v = nd(rng) * 0.5f;
    const Tensor tk(kc.data(), DType::kF32, {m.blocks, bs, c.hk, c.d});
    const Tensor tv(vc.data(), DType::kF32, {m.blocks, bs, c.hk, c.d});
    const Tensor tq(q.data(), DType::kF32, {tokens, c.hq * c.d});
    std::vector<float> fast(q.size(), NAN), ref(q.size(), NAN);
    const float scale = 1.f / std::sqrt(float(c.d));
    paged_attention(tq, tk, tv, m.b, scale, Tensor(fast.data(), DType::kF32, {tokens, c.hq * c.d}));
    paged_attention_reference(tq, tk, tv, m.b, scale, Tensor(ref.data(), DType::kF32, {tokens, c.hq * c.d}));
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(fast[i], ref[i], 1e-5f + 1e-5f * std::fabs(ref[i])) << i;
    // Each sequence alone: the same bits as in the batch.
    int64_t first = 0;
    for (size_t s = 0; s < c.ctx.size(); ++s) {
      Batch ms = m;
      const int32_t qs[2] = {0, c.q_lens[s]};
      ms.b.num_seqs = 1;
      ms.b.query_start_loc = qs;
      ms.b.seq_lens = &m.lens[s];
      ms.b.block_tables = &m.tables[s * size_t(m.b.max_blocks_per_seq)];
      const int64_t n = c.q_lens[s], w = c.hq * c.d;
      std::vector<float> alone(size_t(n * w), NAN);
      paged_attention(Tensor(&q[size_t(first * w)], DType::kF32, {n, w}), tk, tv, ms.b, scale,
                      Tensor(alone.data(), DType::kF32, {n, w}));
      EXPECT_EQ(std::memcmp(alone.data(), &fast[size_t(first * w)], alone.size() * 4), 0) << "sequence " << s;
      first += n;
    }
  }
}

// A 16-bit cache holds values v; a float32 cache the same v: every form must give identical bits on
// both (widening is exact, and the order of the sums does not depend on the element type).
TEST(CpuAttention, HalfCachesMatchFloatCacheOfTheSameValues) {
  std::mt19937_64 rng(12);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int32_t bs = 16;
  for (DType dt : {DType::kBF16, DType::kF16}) {
    for (const Case& c : {Case{12, 2, 128, {1, 3}, {300, 37}}, Case{4, 2, 44, {1}, {1000}}, Case{7, 7, 64, {2}, {9}}}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " hq " + std::to_string(c.hq) + " d " + std::to_string(c.d));
      Batch m = make_batch(c, bs, rng);
      int64_t tokens = 0;
      for (int32_t n : c.q_lens) tokens += n;
      const size_t nkv = size_t(m.blocks * bs * c.hk * c.d);
      std::vector<float> kf(nkv), vf(nkv), q(size_t(tokens * c.hq * c.d));
      std::vector<uint16_t> kh(nkv), vh(nkv);
      for (size_t i = 0; i < kf.size(); ++i) {
        kh[i] = dt == DType::kBF16 ? f32_to_bf16(nd(rng)) : f32_to_f16(nd(rng));
        vh[i] = dt == DType::kBF16 ? f32_to_bf16(nd(rng)) : f32_to_f16(nd(rng));
        kf[i] = load_as_f32(kh.data(), dt, i);
        vf[i] = load_as_f32(vh.data(), dt, i);
      }
      for (float& v : q) v = nd(rng) * 0.5f;
      const auto cache = [&](void* data, DType t) { return Tensor(data, t, {m.blocks, bs, c.hk, c.d}); };
      const Tensor tq(q.data(), DType::kF32, {tokens, c.hq * c.d});
      using Fn = void (*)(const Tensor&, const Tensor&, const Tensor&, const AttentionBatch&, float, Tensor);
      for (Fn fn : {Fn(paged_attention), Fn(paged_attention_reference)}) {
        std::vector<float> half(q.size(), NAN), full(q.size(), NAN);
        fn(tq, cache(kh.data(), dt), cache(vh.data(), dt), m.b, 0.1f,
           Tensor(half.data(), DType::kF32, {tokens, c.hq * c.d}));
        fn(tq, cache(kf.data(), DType::kF32), cache(vf.data(), DType::kF32), m.b, 0.1f,
           Tensor(full.data(), DType::kF32, {tokens, c.hq * c.d}));
        for (float x : half) ASSERT_TRUE(std::isfinite(x));
        EXPECT_EQ(std::memcmp(half.data(), full.data(), half.size() * 4), 0)
            << (fn == Fn(paged_attention) ? "fast form" : "reference");
      }
    }
  }
}

// Long contexts are attended in chunks of keys, spread over the threads when there are few rows:
// a decode row at 5,000 keys (2 KV heads: its chunks spread over 2 or more threads, whole on one)
// against the reference, and the same bits with one thread as with all.
TEST(CpuAttention, LongContextChunksMatchReferenceOnAnyThreadCount) {
  std::mt19937_64 rng(14);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int32_t bs : {16, 24}) {
    const Case c{12, 2, 128, {1}, {5000}};
    SCOPED_TRACE("block size " + std::to_string(bs));
    Batch m = make_batch(c, bs, rng);
    const size_t nkv = size_t(m.blocks * bs * c.hk * c.d);
    std::vector<float> kc(nkv), vc(nkv), q(size_t(c.hq * c.d));
    for (float& v : kc) v = nd(rng);
    for (float& v : vc) v = nd(rng);
    for (float& v : q) v = nd(rng) * 0.5f;
    const Tensor tk(kc.data(), DType::kF32, {m.blocks, bs, c.hk, c.d});
    const Tensor tv(vc.data(), DType::kF32, {m.blocks, bs, c.hk, c.d});
    const Tensor tq(q.data(), DType::kF32, {1, c.hq * c.d});
    std::vector<float> ref(q.size(), NAN), all(q.size(), NAN), one(q.size(), NAN);
    paged_attention_reference(tq, tk, tv, m.b, 0.09f, Tensor(ref.data(), DType::kF32, {1, c.hq * c.d}));
    paged_attention(tq, tk, tv, m.b, 0.09f, Tensor(all.data(), DType::kF32, {1, c.hq * c.d}));
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    paged_attention(tq, tk, tv, m.b, 0.09f, Tensor(one.data(), DType::kF32, {1, c.hq * c.d}));
    omp_set_num_threads(threads);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(all[i], ref[i], 1e-5f + 1e-5f * std::fabs(ref[i])) << i;
    EXPECT_EQ(std::memcmp(all.data(), one.data(), all.size() * 4), 0);
  }
}

TEST(CpuAttention, StoreKvRoundsToTheCacheDtype) {
  const int64_t hk = 2, d = 8, row = hk * d, blocks = 3, bs = 4;
  std::vector<float> k(size_t(3 * row)), v(k.size());
  std::mt19937_64 rng(13);
  std::normal_distribution<float> nd(0.f, 3.f);
  for (size_t i = 0; i < k.size(); ++i) k[i] = nd(rng), v[i] = nd(rng);
  k[0] = 1.f + 1.f / 512;  // a bf16 tie: rounds to even (1.0)
  k[1] = 65520.f;          // above float16's largest finite value once rounded: inf
  const int32_t slots[3] = {5, -1, 11};  // the second row is skipped
  const Tensor tk(k.data(), DType::kF32, {3, row}), tv(v.data(), DType::kF32, {3, row});
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    const size_t n = size_t(blocks * bs * row), es = dtype_size(dt);
    std::vector<uint8_t> kc(n * es, 0xab), vc(n * es, 0xab);
    store_kv(tk, tv, Tensor(kc.data(), dt, {blocks, bs, hk, d}), Tensor(vc.data(), dt, {blocks, bs, hk, d}), slots);
    const auto expect_row = [&](const std::vector<uint8_t>& cache, const std::vector<float>& src, int64_t t,
                                int64_t slot) {
      for (int64_t i = 0; i < row; ++i) {
        const float x = src[size_t(t * row + i)];
        const size_t at = size_t(slot * row + i);
        if (dt == DType::kF32) {
          EXPECT_EQ(load_as_f32(cache.data(), dt, at), x);
        } else {
          uint16_t got;
          std::memcpy(&got, &cache[at * 2], 2);
          EXPECT_EQ(got, dt == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x)) << "row " << t << " element " << i;
        }
      }
    };
    expect_row(kc, k, 0, 5);
    expect_row(vc, v, 0, 5);
    expect_row(kc, k, 2, 11);
    expect_row(vc, v, 2, 11);
    if (dt == DType::kBF16) {
      EXPECT_EQ(load_as_f32(kc.data(), dt, size_t(5 * row)), 1.f);
    }
    if (dt == DType::kF16) {
      EXPECT_TRUE(std::isinf(load_as_f32(kc.data(), dt, size_t(5 * row + 1))));
    }
    for (size_t b = 0; b < kc.size(); ++b) {  // every other slot untouched
      const size_t slot = b / (size_t(row) * es);
      if (slot != 5 && slot != 11) {
        ASSERT_EQ(kc[b], 0xab) << "byte " << b;
        ASSERT_EQ(vc[b], 0xab) << "byte " << b;
      }
    }
  }
}

}  // namespace
}  // namespace ds::cpu
