#include "backend/cpu/cpu_attention.h"

#include <immintrin.h>

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

// The context's flat list of (sequence, query row) pairs, so the parallel loops are flat; and a
// query token's context length (causal: its position + 1).
struct QueryRows {
  std::vector<int32_t> seq_of;
  int32_t ctx(const AttentionBatch& b, int64_t t) const {
    const int32_t s = seq_of[size_t(t)];
    const int32_t q_len = b.query_start_loc[s + 1] - b.query_start_loc[s];
    return b.seq_lens[s] - q_len + int32_t(t - b.query_start_loc[s]) + 1;
  }
};
QueryRows query_rows(const AttentionBatch& b, int64_t tokens) {
  QueryRows r;
  for (int32_t s = 0; s < b.num_seqs; ++s)
    for (int32_t t = b.query_start_loc[s]; t < b.query_start_loc[s + 1]; ++t) r.seq_of.push_back(s);
  DS_CHECK_EQ(int64_t(r.seq_of.size()), tokens);
  return r;
}

// --- AVX2 + FMA: one (token, KV head) for its group of query heads ---

__attribute__((target("avx2,fma"))) inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// a . b over d elements: four accumulators over 32-element chunks, then 8-element blocks into the
// first, (0 + 1) + (2 + 3), across the lanes, then the scalar tail (an order fixed by d).
__attribute__((target("avx2,fma"))) inline float dot_avx2(const float* a, const float* b, int64_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float r = sum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < d; ++i) r += a[i] * b[i];
  return r;
}

// out += p * v over d elements.
__attribute__((target("avx2,fma"))) inline void axpy_avx2(float p, const float* v, float* out, int64_t d) {
  const __m256 pv = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= d; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
  for (; i < d; ++i) out[i] += p * v[i];
}

// The `group` query heads q[g * d ...] of one token that share KV head kvh, over context rows
// [0, ctx): scores (group x ctx), softmax per head, then each V row once for every head.
__attribute__((target("avx2,fma"))) void attend_group_avx2(const float* q, int64_t group, const Tensor& kc,
                                                             const Tensor& vc, const AttentionBatch& b, int32_t s,
                                                             int32_t ctx, int64_t kvh, float scale,
                                                             std::vector<float>& scores, float* out) {
  const int64_t d = kc.dim(3);
  scores.resize(size_t(group * ctx + group));  // then the group's softmax sums
  float* sums = scores.data() + group * ctx;
  for (int32_t j = 0; j < ctx; ++j) {
    const float* k = cache_row(kc, b, s, j, kvh);
    for (int64_t g = 0; g < group; ++g) scores[size_t(g * ctx + j)] = dot_avx2(q + g * d, k, d) * scale;
  }
  for (int64_t g = 0; g < group; ++g) {
    float* sc = scores.data() + g * ctx;
    float mx = -INFINITY;
    for (int32_t j = 0; j < ctx; ++j) mx = std::max(mx, sc[j]);
    float sum = 0.f;
    for (int32_t j = 0; j < ctx; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
    sums[g] = sum;
    std::fill(out + g * d, out + (g + 1) * d, 0.f);
  }
  for (int32_t j = 0; j < ctx; ++j) {
    const float* v = cache_row(vc, b, s, j, kvh);
    for (int64_t g = 0; g < group; ++g) axpy_avx2(scores[size_t(g * ctx + j)] / sums[g], v, out + g * d, d);
  }
}

bool has_avx2_fma() {
  static const bool kHas = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return kHas;
}

void check_shapes(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& out) {
  DS_CHECK(q.dtype == DType::kF32 && k_cache.dtype == DType::kF32 && v_cache.dtype == DType::kF32 &&
           out.dtype == DType::kF32);
  const int64_t hk = k_cache.dim(2), d = k_cache.dim(3);
  DS_CHECK(q.dim(1) % d == 0 && (q.dim(1) / d) % hk == 0) << "heads " << q.dim(1) / d << " kv heads " << hk;
}

}  // namespace

void paged_attention_reference(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                               float scale, Tensor out) {
  check_shapes(q, k_cache, v_cache, out);
  const int64_t hk = k_cache.dim(2), d = k_cache.dim(3);
  const int64_t hq = q.dim(1) / d, group = hq / hk;
  const QueryRows rows = query_rows(b, q.dim(0));
  const int64_t tokens = q.dim(0);
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 4)
    for (int64_t th = 0; th < tokens * hq; ++th) {
      const int64_t t = th / hq, h = th % hq;
      attend_one(q.ptr<const float>() + (t * hq + h) * d, k_cache, v_cache, b, rows.seq_of[size_t(t)], rows.ctx(b, t),
                 h / group, scale, scores, out.ptr<float>() + (t * hq + h) * d);
    }
  }
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                     float scale, Tensor out) {
  if (!has_avx2_fma()) return paged_attention_reference(q, k_cache, v_cache, b, scale, out);
  check_shapes(q, k_cache, v_cache, out);
  const int64_t hk = k_cache.dim(2), d = k_cache.dim(3);
  const int64_t hq = q.dim(1) / d, group = hq / hk;
  const QueryRows rows = query_rows(b, q.dim(0));
  const int64_t tokens = q.dim(0);
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 1)
    for (int64_t tk = 0; tk < tokens * hk; ++tk) {
      const int64_t t = tk / hk, kvh = tk % hk;
      const int64_t first = (t * hq + kvh * group) * d;  // the group's query heads are consecutive
      attend_group_avx2(q.ptr<const float>() + first, group, k_cache, v_cache, b, rows.seq_of[size_t(t)],
                        rows.ctx(b, t), kvh, scale, scores, out.ptr<float>() + first);
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
