// cpu::paged_attention (the AVX2 form where the CPU has it) against paged_attention_reference (one
// query head at a time, scalar): decode and prefill rows of several sequences at once, GQA groups
// 1, 6 and 7, head_dim 64, 128 and 44 (an 8-block and a scalar tail), contexts across block boundaries, scattered
// blocks; and batch invariance: a row alone gives the bits it gave in the batch.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ds::cpu
