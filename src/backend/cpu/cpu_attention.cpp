#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace ds::cpu {
namespace {

// Context row j of sequence s in a cache [num_blocks, block_size, Hk, D], at KV head kvh.
inline const float* cache_row(const Tensor& cache, const AttentionBatch& b, int32_t s, int32_t j,
                              int64_t kvh) {
  const int64_t hk = cache.dim(2), d = cache.dim(3);
  const int32_t block = b.block_tables[size_t(s) * size_t(b.max_blocks_per_seq) + size_t(j / b.block_size)];
  const int64_t slot = int64_t(block) * b.block_size + j % b.block_size;
  return cache.ptr<const float>() + (slot * hk + kvh) * d;
}

// One query row of one head: softmax(q.K^T * scale) V over context rows [0, ctx).
void attend_one(const float* q, const Tensor& kc, const Tensor& vc, const AttentionBatch& b, int32_t s,
                int32_t ctx, int64_t kvh, float scale, std::vector<float>& scores, float* out) {
  const int64_t d = kc.dim(3);
  scores.resize(size_t(ctx));
  float mx = -INFINITY;
  for (int32_t j = 0; j < ctx; ++j) {
    const float* k = cache_row(kc, b, s, j, kvh);
    float acc = 0.f;
    for (int64_t i = 0; i < d; ++i) acc += q[i] * k[i];
    scores[size_t(j)] = acc * scale;
    mx = std::max(mx, scores[size_t(j)]);
  }
  float sum = 0.f;
  for (int32_t j = 0; j < ctx; ++j) sum += (scores[size_t(j)] = std::exp(scores[size_t(j)] - mx));
  std::fill(out, out + d, 0.f);
  for (int32_t j = 0; j < ctx; ++j) {
    const float p = scores[size_t(j)] / sum;
    const float* v = cache_row(vc, b, s, j, kvh);
    for (int64_t i = 0; i < d; ++i) out[i] += p * v[i];
  }
}

}  // namespace

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                     float scale, Tensor out) {
  DS_CHECK(q.dtype == DType::kF32 && k_cache.dtype == DType::kF32 && out.dtype == DType::kF32);
  const int64_t hk = k_cache.dim(2), d = k_cache.dim(3);
  const int64_t hq = q.dim(1) / d;
  DS_CHECK(hq % hk == 0) << "heads " << hq << " kv heads " << hk;
  const int64_t group = hq / hk;
  // (sequence, row) of every query token, so the parallel loop is flat.
  std::vector<int32_t> seq_of;
  for (int32_t s = 0; s < b.num_seqs; ++s)
    for (int32_t t = b.query_start_loc[s]; t < b.query_start_loc[s + 1]; ++t) seq_of.push_back(s);
  const int64_t tokens = int64_t(seq_of.size());
  DS_CHECK_EQ(tokens, q.dim(0));
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 4)
    for (int64_t th = 0; th < tokens * hq; ++th) {
      const int64_t t = th / hq, h = th % hq;
      const int32_t s = seq_of[size_t(t)];
      const int32_t q_len = b.query_start_loc[s + 1] - b.query_start_loc[s];
      const int32_t pos = b.seq_lens[s] - q_len + int32_t(t - b.query_start_loc[s]);
      attend_one(q.ptr<const float>() + (t * hq + h) * d, k_cache, v_cache, b, s, pos + 1, h / group, scale,
                 scores, out.ptr<float>() + (t * hq + h) * d);
    }
  }
}

void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) {
  const int64_t row = k.dim(1);
  DS_CHECK_EQ(row, k_cache.dim(2) * k_cache.dim(3));
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  for (int64_t t = 0; t < k.dim(0); ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    DS_CHECK_LT(slot, num_slots);
    std::memcpy(k_cache.ptr<float>() + slot * row, k.ptr<const float>() + t * row, size_t(row) * 4);
    std::memcpy(v_cache.ptr<float>() + slot * row, v.ptr<const float>() + t * row, size_t(row) * 4);
  }
}

}  // namespace ds::cpu
