#include "backend/cpu/cpu_attention.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_matmul.h"
#include "backend/cpu/cpu_simd.h"

namespace ds::cpu {
namespace {

// Context row j of sequence s in a cache [num_blocks, block_size, Hk, D], at KV head kvh (elements of
// the cache's dtype: f32, bf16 or f16).
inline const char* cache_row(const Tensor& cache, const AttentionBatch& b, int32_t s, int32_t j, int64_t kvh) {
  const int64_t hk = cache.dim(2), d = cache.dim(3);
  const int32_t block = b.block_tables[size_t(s) * size_t(b.max_blocks_per_seq) + size_t(j / b.block_size)];
  const int64_t slot = int64_t(block) * b.block_size + j % b.block_size;
  return static_cast<const char*>(cache.data) + size_t((slot * hk + kvh) * d) * dtype_size(cache.dtype);
}

// One query row of one head: softmax(q.K^T * scale) V over context rows [0, ctx).
void attend_one(const float* q, const Tensor& kc, const Tensor& vc, const AttentionBatch& b, int32_t s,
                int32_t ctx, int64_t kvh, float scale, std::vector<float>& scores, float* out) {
  const int64_t d = kc.dim(3);
  scores.resize(size_t(ctx));
  float mx = -INFINITY;
  for (int32_t j = 0; j < ctx; ++j) {
    const char* k = cache_row(kc, b, s, j, kvh);
    float acc = 0.f;
    for (int64_t i = 0; i < d; ++i) acc += q[i] * load_as_f32(k, kc.dtype, size_t(i));
    scores[size_t(j)] = acc * scale;
    mx = std::max(mx, scores[size_t(j)]);
  }
  float sum = 0.f;
  for (int32_t j = 0; j < ctx; ++j) sum += (scores[size_t(j)] = std::exp(scores[size_t(j)] - mx));
  std::fill(out, out + d, 0.f);
  for (int32_t j = 0; j < ctx; ++j) {
    const float p = scores[size_t(j)] / sum;
    const char* v = cache_row(vc, b, s, j, kvh);
    for (int64_t i = 0; i < d; ++i) out[i] += p * load_as_f32(v, vc.dtype, size_t(i));
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

// Dot products of query head q with K rows (d elements each, `stride` floats apart): one 8-lane
// accumulator per row over d's 8-element chunks in order, its lanes added as ((0+1)+(2+3)) +
// ((4+5)+(6+7)), then the scalar tail. dots8 does 8 rows at once (one q load per chunk for all, the
// lane sums as one hadd tree), dot1 one row in the same order, so a score never depends on which
// of the two computed it.
__attribute__((target("avx2,fma"))) inline float lanes_tree(__m256 v) {
  const __m256 h = _mm256_hadd_ps(v, v);
  const __m256 h2 = _mm256_hadd_ps(h, h);
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1)));
}

template <DType kT>
__attribute__((target("avx2,fma,f16c"))) inline float dot1(const float* q, const char* k, int64_t d) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8<kT>(k, i), acc);
  float r = lanes_tree(acc);
  for (; i < d; ++i) r += q[i] * load_as_f32(k, kT, size_t(i));
  return r;
}

// Rows r of k are `stride` bytes apart.
template <DType kT>
__attribute__((target("avx2,fma,f16c"))) inline void dots8(const float* q, const char* k, size_t stride, int64_t d,
                                                             float* out) {
  __m256 a[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) a[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) a[r] = _mm256_fmadd_ps(qv, load8<kT>(k + r * stride, i), a[r]);
  }
  // hadd pairs rows within each 128-bit half: after three rounds lane r (low half) and lane r + 4
  // (high half) hold row r's and row r + 4's half-sums ... combined so that out[r] = the tree above.
  const __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 h0123 = _mm256_hadd_ps(h01, h23), h4567 = _mm256_hadd_ps(h45, h67);
  // h0123 = [r0 lo-half sum, r1, r2, r3 | r0 hi-half sum, r1, r2, r3]; likewise h4567 for rows 4-7.
  const __m256 lo = _mm256_permute2f128_ps(h0123, h4567, 0x20), hi = _mm256_permute2f128_ps(h0123, h4567, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
  for (; i < d; ++i)
    for (int r = 0; r < 8; ++r) out[r] += q[i] * load_as_f32(k + r * stride, kT, size_t(i));
}

// exp(x) for 8 lanes (x <= 0 here: scores less their maximum): x = n ln2 + r with |r| <= ln2 / 2,
// e^r from the Cephes single-precision polynomial (~1 ulp), times 2^n. Below -87.3 (where expf is
// subnormal or 0) the result is ~1e-38, nothing next to the softmax's sum >= 1; NaN stays NaN.
__attribute__((target("avx2,fma"))) inline __m256 exp_avx2(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);  // max_ps returns its second operand when one is NaN
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// sc[0, n) = exp(sc - max) in place, 8 lanes at a time; returns {max, sum of the exps} (the lane sums
// added in a fixed order, then the tail's).
struct ExpStats {
  float max, sum;
};
__attribute__((target("avx2,fma"))) ExpStats exp_scores(float* sc, int32_t n) {
  int32_t j = 0;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  for (; j + 8 <= n; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(sc + j));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  float mx = std::max(_mm_cvtss_f32(m4), _mm_cvtss_f32(_mm_movehdup_ps(m4)));
  for (; j < n; ++j) mx = std::max(mx, sc[j]);
  const __m256 mb = _mm256_set1_ps(mx);
  __m256 sv = _mm256_setzero_ps();
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(sc + j), mb));
    _mm256_storeu_ps(sc + j, e);
    sv = _mm256_add_ps(sv, e);
  }
  float sum = lanes_tree(sv);
  for (; j < n; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
  return {mx, sum};
}

// sc[0, n) = softmax(sc): exp_scores, then each divided by the sum.
__attribute__((target("avx2,fma"))) void softmax_avx2(float* sc, int32_t n) {
  const float sum = exp_scores(sc, n).sum;
  const __m256 div = _mm256_set1_ps(sum);
  int32_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(sc + j, _mm256_div_ps(_mm256_loadu_ps(sc + j), div));
  for (; j < n; ++j) sc[j] /= sum;
}

// out[0, 8 kLanes) += sum over the rows r < n of p[r] * (row r's elements [i0, i0 + 8 kLanes)), rows
// `stride` bytes apart from v, 8-lane accumulators held in registers over the rows. Each element's
// sum runs over the rows in order, as one row at a time would add them.
template <DType kT, int kLanes>
__attribute__((target("avx2,fma,f16c"))) inline void pv_chunk(const float* p, const char* v, size_t stride, int32_t n,
                                                                int64_t i0, float* out) {
  __m256 acc[kLanes];
#pragma GCC unroll 8
  for (int l = 0; l < kLanes; ++l) acc[l] = _mm256_loadu_ps(out + 8 * l);
  for (int32_t r = 0; r < n; ++r) {
    const __m256 pr = _mm256_set1_ps(p[r]);
    const char* vr = v + r * stride;
#pragma GCC unroll 8
    for (int l = 0; l < kLanes; ++l) acc[l] = _mm256_fmadd_ps(pr, load8<kT>(vr, i0 + 8 * l), acc[l]);
  }
#pragma GCC unroll 8
  for (int l = 0; l < kLanes; ++l) _mm256_storeu_ps(out + 8 * l, acc[l]);
}

// The `group` query heads q[g * d ...] of one token that share KV head kvh, over context rows
// [j_begin, j_end) (j_begin starts a cache block), a cache block at a time: scores (group x keys),
// exps per head, then each block of V rows for every head (in L1 by the time the next head reads
// it). stats == nullptr: the keys are the whole context, out = softmax(scores) V. Otherwise out =
// exp(scores - max) V unnormalized and stats[2g], stats[2g + 1] = head g's max and sum (a chunk, for
// merge_chunks). The caches hold kT elements.
template <DType kT>
__attribute__((target("avx2,fma,f16c"))) void attend_group_avx2(const float* q, int64_t group, const Tensor& kc,
                                                                  const Tensor& vc, const AttentionBatch& b, int32_t s,
                                                                  int32_t j_begin, int32_t j_end, int64_t kvh,
                                                                  float scale, std::vector<float>& scores, float* out,
                                                                  float* stats) {
  constexpr size_t kEs = kT == DType::kF32 ? 4 : 2;
  const int64_t hk = kc.dim(2), d = kc.dim(3);
  const size_t stride = size_t(hk * d) * kEs, row_bytes = size_t(d) * kEs;  // bytes between rows; of a row
  const int32_t bs = b.block_size, keys = j_end - j_begin;
  const int32_t* table = b.block_tables + size_t(s) * size_t(b.max_blocks_per_seq);
  // Row j0 of a block (the block holding context row j0, which starts a block) at this KV head.
  const auto block_rows = [&](const Tensor& cache, int32_t j0) {
    return static_cast<const char*>(cache.data) + size_t((int64_t(table[j0 / bs]) * bs * hk + kvh) * d) * kEs;
  };
  // The next block's rows into the cache while this one is computed (blocks are scattered: the
  // hardware prefetchers do not follow the table).
  const auto prefetch_block = [&](const Tensor& cache, int32_t j0) {
    if (j0 >= j_end) return;
    const char* rows = block_rows(cache, j0);
    for (int32_t r = 0; r < std::min(bs, j_end - j0); ++r)
      for (size_t off = 0; off < row_bytes; off += 64) _mm_prefetch(rows + r * stride + off, _MM_HINT_T0);
  };
  scores.resize(size_t(group * keys));
  for (int32_t j0 = j_begin; j0 < j_end; j0 += bs) {
    const char* kb = block_rows(kc, j0);
    const int32_t n = std::min(bs, j_end - j0);
    prefetch_block(kc, j0 + bs);
    for (int64_t g = 0; g < group; ++g) {
      float* sc = scores.data() + g * keys + (j0 - j_begin);
      int32_t r = 0;
      for (; r + 8 <= n; r += 8) dots8<kT>(q + g * d, kb + r * stride, stride, d, sc + r);
      for (; r < n; ++r) sc[r] = dot1<kT>(q + g * d, kb + r * stride, d);
      for (r = 0; r < n; ++r) sc[r] *= scale;
    }
  }
  for (int64_t g = 0; g < group; ++g) {
    if (stats) {
      const ExpStats e = exp_scores(scores.data() + g * keys, keys);
      stats[2 * g] = e.max;
      stats[2 * g + 1] = e.sum;
    } else {
      softmax_avx2(scores.data() + g * keys, keys);
    }
    std::fill(out + g * d, out + (g + 1) * d, 0.f);
  }
  for (int32_t j0 = j_begin; j0 < j_end; j0 += bs) {
    const char* vb = block_rows(vc, j0);
    const int32_t n = std::min(bs, j_end - j0);
    prefetch_block(vc, j0 + bs);
    for (int64_t g = 0; g < group; ++g) {
      const float* p = scores.data() + g * keys + (j0 - j_begin);
      float* o = out + g * d;
      int64_t i = 0;
      for (; i + 64 <= d; i += 64) pv_chunk<kT, 8>(p, vb, stride, n, i, o + i);
      for (; i + 8 <= d; i += 8) pv_chunk<kT, 1>(p, vb, stride, n, i, o + i);
      for (; i < d; ++i)
        for (int32_t r = 0; r < n; ++r) o[i] += p[r] * load_as_f32(vb + r * stride, kT, size_t(i));
    }
  }
}

using AttendFn = void (*)(const float*, int64_t, const Tensor&, const Tensor&, const AttentionBatch&, int32_t, int32_t,
                          int32_t, int64_t, float, std::vector<float>&, float*, float*);
AttendFn attend_group_for(DType cache) {
  return cache == DType::kF32 ? attend_group_avx2<DType::kF32>
         : cache == DType::kBF16 ? attend_group_avx2<DType::kBF16>
                                 : attend_group_avx2<DType::kF16>;
}

// Contexts longer than one chunk of keys are attended a chunk at a time (flash-decoding): each
// chunk's unnormalized output and softmax statistics, then merged in chunk order. Chunks follow only
// from the context length and the block size, so a row's bits do not depend on the batch, on the
// thread count or on how the chunks are spread over the threads; spread, they keep every thread
// busy for a single long sequence (a decode row has only Hk (token, KV head) items).
constexpr int32_t kChunkKeys = 512;
int32_t chunk_keys(int32_t block_size) { return block_size * std::max(1, kChunkKeys / block_size); }
int32_t num_chunks(int32_t ctx, int32_t chunk) { return ctx <= chunk ? 1 : (ctx + chunk - 1) / chunk; }

// A (token, KV head) item's chunk results, chunk c at part + c * (group * (d + 2)): group x d
// outputs, then group (max, sum) pairs. out[g] = sum_c w_c o_c[g] / sum_c w_c sum_c[g], w_c =
// exp(max_c[g] - max over c), the chunks in order.
void merge_chunks(const float* part, int32_t chunks, int64_t group, int64_t d, float* out) {
  const int64_t per = group * (d + 2);
  for (int64_t g = 0; g < group; ++g) {
    float mx = -INFINITY;
    for (int32_t c = 0; c < chunks; ++c) mx = std::max(mx, part[c * per + group * d + 2 * g]);
    float total = 0.f;
    float* o = out + g * d;
    std::fill(o, o + d, 0.f);
    for (int32_t c = 0; c < chunks; ++c) {
      const float* pc = part + c * per;
      const float w = std::exp(pc[group * d + 2 * g] - mx);
      total += w * pc[group * d + 2 * g + 1];
      for (int64_t i = 0; i < d; ++i) o[i] += w * pc[g * d + i];
    }
    for (int64_t i = 0; i < d; ++i) o[i] /= total;
  }
}

// An attention call's head counts, checked.
struct Heads {
  int64_t hk, d, hq, group;
};
Heads heads_of(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& out) {
  DS_CHECK(q.dtype == DType::kF32 && out.dtype == DType::kF32 && k_cache.dtype == v_cache.dtype &&
           is_kv_cache_dtype(k_cache.dtype))
      << dtype_name(k_cache.dtype) << " / " << dtype_name(v_cache.dtype) << " caches";
  const int64_t hk = k_cache.dim(2), d = k_cache.dim(3);
  DS_CHECK(q.dim(1) % d == 0 && (q.dim(1) / d) % hk == 0) << "heads " << q.dim(1) / d << " kv heads " << hk;
  return {hk, d, q.dim(1) / d, q.dim(1) / d / hk};
}

// fn(item, scores) for items [0, n) over the OpenMP threads, each thread with its own scores buffer.
template <class Fn>
void for_items(int64_t n, int chunk, const Fn& fn) {
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, chunk)
    for (int64_t i = 0; i < n; ++i) fn(i, scores);
  }
}

}  // namespace

void paged_attention_reference(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                               float scale, Tensor out) {
  const Heads h = heads_of(q, k_cache, v_cache, out);
  const QueryRows rows = query_rows(b, q.dim(0));
  for_items(q.dim(0) * h.hq, 4, [&](int64_t item, std::vector<float>& scores) {  // (token, query head)
    const int64_t t = item / h.hq, head = item % h.hq, first = (t * h.hq + head) * h.d;
    attend_one(q.ptr<const float>() + first, k_cache, v_cache, b, rows.seq_of[size_t(t)], rows.ctx(b, t),
               head / h.group, scale, scores, out.ptr<float>() + first);
  });
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                     float scale, Tensor out) {
  if (cpu_isa() == MatmulIsa::kScalar) return paged_attention_reference(q, k_cache, v_cache, b, scale, out);
  const Heads h = heads_of(q, k_cache, v_cache, out);
  const QueryRows rows = query_rows(b, q.dim(0));
  const AttendFn attend_group = attend_group_for(k_cache.dtype);
  const int64_t tokens = q.dim(0), per = h.group * (h.d + 2);
  const int32_t chunk = chunk_keys(b.block_size);
  // Query heads of (token t, KV head kvh): consecutive from here.
  const auto first = [&](int64_t t, int64_t kvh) { return (t * h.hq + kvh * h.group) * h.d; };
  // Chunk c of the n of item (t, kvh): with n == 1 the whole context, into the output; else into
  // `part` (the chunk's outputs, then its statistics), merged by `merge` once all n are there.
  const auto attend_chunk = [&](int64_t t, int64_t kvh, int32_t c, int32_t n, std::vector<float>& scores,
                                float* part) {
    const int32_t ctx = rows.ctx(b, t), s = rows.seq_of[size_t(t)];
    const float* qp = q.ptr<const float>() + first(t, kvh);
    if (n == 1) {
      return attend_group(qp, h.group, k_cache, v_cache, b, s, 0, ctx, kvh, scale, scores,
                          out.ptr<float>() + first(t, kvh), nullptr);
    }
    attend_group(qp, h.group, k_cache, v_cache, b, s, c * chunk, std::min(ctx, (c + 1) * chunk), kvh, scale, scores,
                 part, part + h.group * h.d);
  };
  const auto merge = [&](int64_t t, int64_t kvh, int32_t n, const float* part) {
    if (n > 1) merge_chunks(part, n, h.group, h.d, out.ptr<float>() + first(t, kvh));
  };
  const int64_t items = tokens * h.hk;
  int32_t most_chunks = 1;
  for (int64_t t = 0; t < tokens; ++t) most_chunks = std::max(most_chunks, num_chunks(rows.ctx(b, t), chunk));
  if (most_chunks == 1 || items >= 2 * int64_t(omp_get_max_threads())) {
    // Enough items to keep the threads busy (or no long context): each item whole on one thread,
    // its chunks one after another.
#pragma omp parallel
    {
      std::vector<float> scores, part;
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < items; ++i) {
        const int64_t t = i / h.hk, kvh = i % h.hk;
        const int32_t n = num_chunks(rows.ctx(b, t), chunk);
        part.resize(size_t(n * per));
        for (int32_t c = 0; c < n; ++c) attend_chunk(t, kvh, c, n, scores, part.data() + c * per);
        merge(t, kvh, n, part.data());
      }
    }
    return;
  }
  // Few items with long contexts (decode of a few sequences): each chunk is an item, the merges after.
  std::vector<int64_t> chunk_start(size_t(items) + 1, 0);  // item i's: [chunk_start[i], chunk_start[i + 1])
  for (int64_t i = 0; i < items; ++i)
    chunk_start[size_t(i + 1)] = chunk_start[size_t(i)] + num_chunks(rows.ctx(b, i / h.hk), chunk);
  const auto chunks_of = [&](int64_t i) { return int32_t(chunk_start[size_t(i + 1)] - chunk_start[size_t(i)]); };
  std::vector<float> part(size_t(chunk_start.back() * per));
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = 0; j < chunk_start.back(); ++j) {
      const int64_t i = int64_t(std::upper_bound(chunk_start.begin(), chunk_start.end(), j) - chunk_start.begin()) - 1;
      attend_chunk(i / h.hk, i % h.hk, int32_t(j - chunk_start[size_t(i)]), chunks_of(i), scores,
                   part.data() + j * per);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < items; ++i)
      merge(i / h.hk, i % h.hk, chunks_of(i), part.data() + chunk_start[size_t(i)] * per);
  }
}

void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) {
  const int64_t row = k.dim(1);
  DS_CHECK(k.dtype == DType::kF32 && v.dtype == DType::kF32 && k_cache.dtype == v_cache.dtype &&
           is_kv_cache_dtype(k_cache.dtype));
  DS_CHECK_EQ(row, k_cache.dim(2) * k_cache.dim(3));
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  const DType dt = k_cache.dtype;
  for (int64_t t = 0; t < k.dim(0); ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    DS_CHECK_LT(slot, num_slots);
    for (const auto& [src, cache] : {std::pair{&k, &k_cache}, std::pair{&v, &v_cache}}) {
      const float* x = src->ptr<const float>() + t * row;
      if (dt == DType::kF32) {
        std::memcpy(cache->ptr<float>() + slot * row, x, size_t(row) * 4);
        continue;
      }
      uint16_t* y = cache->ptr<uint16_t>() + slot * row;  // rounded to nearest even, as torch's .to()
      for (int64_t i = 0; i < row; ++i) y[i] = dt == DType::kBF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
    }
  }
}

}  // namespace ds::cpu
