// Paged causal attention, the simple CUDA-core kernel (kSimple: the generic fallback for head dims
// the tensor-core kernels of paged_attention_tc.cu do not take), the split merge, the planner and
// the dispatcher. kSimple: one block of 4 warps per (query token,
// query head, context split). Warp w walks context positions j = w, w+4, ... of its split; each lane
// holds D/32 consecutive elements of q, of the K/V row it reads, and of its running output, so a
// score is one warp-wide dot product. Each warp keeps an online softmax (running max m, sum l,
// rescaled accumulator); the 4 partial states are merged through shared memory at the end.
// Split-KV (flash-decoding): when (tokens x heads) alone would not fill the GPU, the context is cut
// into num_splits ranges handled by separate blocks, which write fp32 partial states (m, l, acc) to
// a workspace; a second kernel merges them. With one split the first kernel writes bf16 directly.
// GQA: query head h reads KV head h / (Hq / Hk). Works for prefill, chunked prefill and decode
// alike (the causal limit of a token is its position + 1).
// Cost: K/V rows are re-read once per query head of a group and per query token (L2 absorbs part
// of it); the tensor-core kernels avoid both.
// CPU reference: cpu::paged_attention.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"

namespace ds::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int64_t kMinSplitLen = 128;  // keys per split at least (fewer: merging costs more than it saves)
constexpr int64_t kMaxSplits = 64;
constexpr int64_t kMaxTcSplits = 128;  // kDecode
constexpr int32_t kClusterSplits = 8;  // kDecode: the portable cluster size (merge_in_cluster's limit)

template <int E>
struct alignas(2 * E) BfVec {
  bf16 v[E];
};

// q, out [T, Hq * D]; caches [num_blocks, block_size, Hk, D]. Grid: T * Hq blocks of 32 * kWarps.
template <int D>
__global__ void __launch_bounds__(32 * kWarps) paged_attention_kernel(const bf16* __restrict__ q,
                                                                      const bf16* __restrict__ k_cache,
                                                                      const bf16* __restrict__ v_cache,
                                                                      const PagedAttentionArgs a,
                                                                      bf16* __restrict__ out) {
  // E elements per lane; head_dim < 32 (tiny test models) leaves lanes >= D idle (E = 1).
  constexpr int E = D >= 32 ? D / 32 : 1;
  __shared__ float s_m[kWarps], s_l[kWarps];
  __shared__ float s_acc[kWarps][D];
  const int64_t th = blockIdx.x;  // token * Hq + head
  const int64_t t = th / a.num_q_heads;
  const int32_t h = int32_t(blockIdx.x % a.num_q_heads);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool active = lane * E < D;
  const int32_t s = seq_of_token(a.query_start_loc, a.num_seqs, t);
  const int32_t q_start = a.query_start_loc[s], q_len = a.query_start_loc[s + 1] - q_start;
  const int32_t ctx = a.seq_lens[s] - q_len + int32_t(t - q_start) + 1;  // causal: positions [0, ctx)
  const int32_t kvh = h / (a.num_q_heads / a.num_kv_heads);
  const int32_t* table = a.block_tables + int64_t(s) * a.max_blocks_per_seq;

  float qv[E], acc[E];
  BfVec<E> qraw{};
  if (active) qraw = *reinterpret_cast<const BfVec<E>*>(q + (t * a.num_q_heads + h) * D + lane * E);
#pragma unroll
  for (int e = 0; e < E; ++e) {
    qv[e] = active ? __bfloat162float(qraw.v[e]) : 0.f;
    acc[e] = 0.f;
  }
  float m = -FLT_MAX, l = 0.f;
  const int32_t j_begin = int32_t(blockIdx.y) * a.split_len;
  const int32_t j_end = min(ctx, j_begin + a.split_len);
  for (int32_t j = j_begin + warp; j < j_end; j += kWarps) {
    const int64_t slot = int64_t(table[j / a.block_size]) * a.block_size + j % a.block_size;
    const int64_t off = (slot * a.num_kv_heads + kvh) * D + lane * E;
    BfVec<E> kraw{}, vraw{};
    if (active) {
      kraw = *reinterpret_cast<const BfVec<E>*>(k_cache + off);
      vraw = *reinterpret_cast<const BfVec<E>*>(v_cache + off);
    }
    float dot = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) dot += qv[e] * (active ? __bfloat162float(kraw.v[e]) : 0.f);
    const float score = warp_sum(dot) * a.scale;
    const float m_new = fmaxf(m, score);
    const float corr = expf(m - m_new), p = expf(score - m_new);
    l = l * corr + p;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] = acc[e] * corr + (active ? p * __bfloat162float(vraw.v[e]) : 0.f);
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
  if (active) {
#pragma unroll
    for (int e = 0; e < E; ++e) s_acc[warp][lane * E + e] = acc[e];
  }
  __syncthreads();
  // Merge: a warp that saw no key has l = 0 and contributes nothing.
  float m_all = -FLT_MAX;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, s_m[w]);
  float l_all = 0.f, wscale[kWarps];
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    wscale[w] = s_l[w] > 0.f ? expf(s_m[w] - m_all) : 0.f;
    l_all += s_l[w] * wscale[w];
  }
  if (gridDim.y > 1) {  // partial state of this split: fp32 (m, l, acc scaled to m)
    const int64_t part = th * gridDim.y + blockIdx.y;
    if (threadIdx.x == 0) {
      a.part_ml[2 * part] = m_all;
      a.part_ml[2 * part + 1] = l_all;
    }
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
      float v = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) v += s_acc[w][i] * wscale[w];
      a.part_acc[part * D + i] = v;
    }
    return;
  }
  const float inv_l = l_all > 0.f ? 1.f / l_all : 0.f;
  bf16* o = out + th * D;
  for (int i = threadIdx.x; i < D; i += blockDim.x) {
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += s_acc[w][i] * wscale[w];
    o[i] = __float2bfloat16(v * inv_l);
  }
}

// Merges the num_splits (<= 128) partial states of each (token, head): thread s weighs split s,
// then each thread sums its dims over the splits (independent loads, unrolled). Grid: T * Hq
// blocks of 128 threads.
__global__ void __launch_bounds__(128) combine_splits_kernel(const PagedAttentionArgs a, int32_t d,
                                                             bf16* __restrict__ out) {
  __shared__ float s_w[128], s_max[4], s_sum[4];
  const int64_t th = blockIdx.x;
  const int32_t splits = a.num_splits;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float m = -FLT_MAX, l = 0.f;
  if (int32_t(threadIdx.x) < splits) {
    l = a.part_ml[(th * splits + threadIdx.x) * 2 + 1];
    if (l > 0.f) m = a.part_ml[(th * splits + threadIdx.x) * 2];
  }
  float mx = m;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (lane == 0) s_max[warp] = mx;
  __syncthreads();
  const float m_all = fmaxf(fmaxf(s_max[0], s_max[1]), fmaxf(s_max[2], s_max[3]));
  const float w = l > 0.f ? expf(m - m_all) : 0.f;  // a split that saw no key weighs 0
  s_w[threadIdx.x] = w;
  const float lw = warp_sum(l * w);
  if (lane == 0) s_sum[warp] = lw;
  __syncthreads();
  const float l_all = s_sum[0] + s_sum[1] + s_sum[2] + s_sum[3];
  const float inv_l = l_all > 0.f ? 1.f / l_all : 0.f;
  const float* acc = a.part_acc + th * splits * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float v = 0.f;
#pragma unroll 8
    for (int32_t s = 0; s < splits; ++s) {
      const float x = acc[int64_t(s) * d + i];  // unwritten for an empty split: only used with w != 0
      if (s_w[s] != 0.f) v += s_w[s] * x;
    }
    out[th * d + i] = __float2bfloat16(v * inv_l);
  }
}

}  // namespace

bool paged_attention_supports(int32_t head_dim) {
  return head_dim == 8 || head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 || head_dim == 256;
}

void launch_paged_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionArgs& a,
                            bf16* out, cudaStream_t stream) {
  if (a.num_tokens == 0 || a.num_q_heads == 0) return;
  DS_CHECK(paged_attention_supports(a.head_dim)) << "head_dim " << a.head_dim;
  DS_CHECK(a.num_kv_heads > 0 && a.num_q_heads % a.num_kv_heads == 0) << a.num_q_heads << " " << a.num_kv_heads;
  DS_CHECK(a.num_seqs > 0 && a.block_size > 0);
  const int64_t blocks = a.num_tokens * a.num_q_heads;
  DS_CHECK_LT(blocks, int64_t(1) << 31);
  DS_CHECK(a.num_splits >= 1 && a.split_len >= 1 && (a.num_splits == 1 || (a.part_ml && a.part_acc)));
  if (a.kernel == AttentionKernel::kDecode || a.kernel == AttentionKernel::kPrefill) {
    launch_paged_attention_tc(q, k_cache, v_cache, a, a.kernel == AttentionKernel::kDecode, out, stream);
  } else {
    DS_CHECK(a.kernel == AttentionKernel::kSimple);
    const dim3 grid{unsigned(blocks), unsigned(a.num_splits)}, block{32 * kWarps};
    switch (a.head_dim) {
      case 8: paged_attention_kernel<8><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
      case 16: paged_attention_kernel<16><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
      case 32: paged_attention_kernel<32><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
      case 64: paged_attention_kernel<64><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
      case 128: paged_attention_kernel<128><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
      case 256: paged_attention_kernel<256><<<grid, block, 0, stream>>>(q, k_cache, v_cache, a, out); break;
    }
    CUDA_CHECK_LAUNCH();
  }
  if (a.num_splits > 1 && a.kernel == AttentionKernel::kSimple) {  // kDecode merges in its last block
    DS_CHECK_LE(a.num_splits, 128);
    combine_splits_kernel<<<unsigned(blocks), 128, 0, stream>>>(a, a.head_dim, out);
    CUDA_CHECK_LAUNCH();
  }
}

void plan_paged_attention(PagedAttentionArgs& a, int num_sms, AttentionKernel want) {
  const bool tc_dim = a.head_dim == 64 || a.head_dim == 128;
  const int64_t group = a.num_kv_heads > 0 ? a.num_q_heads / a.num_kv_heads : 1;
  if (want == AttentionKernel::kAuto)
    want = !tc_dim ? AttentionKernel::kSimple
                   : (a.num_tokens == a.num_seqs ? AttentionKernel::kDecode : AttentionKernel::kPrefill);
  if ((want == AttentionKernel::kDecode && (!tc_dim || group > 16)) || (want == AttentionKernel::kPrefill && !tc_dim))
    want = tc_dim ? AttentionKernel::kPrefill : AttentionKernel::kSimple;
  a.kernel = want;
  // The longest possible context bounds every sequence's (device-side) length.
  const int64_t max_ctx = std::max<int64_t>(1, int64_t(a.max_blocks_per_seq) * a.block_size);
  a.num_splits = 1;
  a.split_len = 1 << 30;
  if (want == AttentionKernel::kSimple) {
    const int64_t blocks = std::max<int64_t>(1, a.num_tokens * a.num_q_heads);
    const int64_t per_sm = (2 * int64_t(num_sms) + blocks - 1) / blocks;  // ~2 blocks per SM
    const int64_t by_len = (max_ctx + kMinSplitLen - 1) / kMinSplitLen;   // splits of >= kMinSplitLen keys
    a.num_splits = int32_t(std::clamp<int64_t>(std::min(per_sm, by_len), 1, kMaxSplits));
    a.split_len = int32_t((max_ctx + a.num_splits - 1) / a.num_splits);
  } else if (want == AttentionKernel::kDecode) {
    // Every block of the grid has the same work (the device splits each context evenly), so the
    // grid should fill whole waves of resident blocks: the fewest splits (at least one wave) whose
    // last wave is >= 85% full, within 4x that count; else the fullest last wave. Splits of >= one
    // 64-key tile of the context bound.
    // A batch whose unsplit blocks make 4 waves or more is not split: splits would only add merges
    // (the last wave's tail is at most a quarter of the time). Session 16, H200: the offline run's
    // mixed steps (~500 decodes beside the prompts) had planned 2-4 splits in clusters of 8, and
    // their decode launch took 656 us per layer.
    const int64_t base = std::max<int64_t>(1, a.num_tokens * a.num_kv_heads);
    const int64_t wave = int64_t(paged_attention_decode_blocks_per_sm(a.head_dim)) * num_sms;
    if (base >= 4 * wave) return;
    const int64_t hi = std::clamp<int64_t>((max_ctx + 63) / 64, 1, kMaxTcSplits);
    const int64_t lo = std::min(hi, std::max<int64_t>(1, (wave + base - 1) / base));
    int64_t best = lo;
    double best_fill = 0;
    for (int64_t s = lo; s <= std::min(hi, 4 * lo); ++s) {
      const double waves = double(base * s) / double(wave), fill = waves / std::ceil(waves);
      if (fill >= 0.85) {
        best = s;
        break;
      }
      if (fill > best_fill) best = s, best_fill = fill;
    }
    a.num_splits = int32_t(best);
    // Splits merged in a cluster when they fit (paged_attention_tc.cu: merge_in_cluster): a cluster
    // of num_splits blocks up to kClusterSplits, else of kClusterSplits blocks (the grid's extra
    // blocks, rounding num_splits up, exit at once; those of a merging cluster wait at its barriers,
    // which is why the cluster is no wider than the splits).
    if (a.num_splits > 1 && paged_attention_clusters_supported())
      a.cluster_splits = int32_t(std::min<int64_t>(kClusterSplits, a.num_splits));
  }
}

size_t paged_attention_workspace_floats(const PagedAttentionArgs& a) {
  if (a.num_splits <= 1) return 0;
  return size_t(a.num_tokens * a.num_q_heads) * size_t(a.num_splits) * size_t(a.head_dim + 2);
}

size_t paged_attention_counters(const PagedAttentionArgs& a) {
  return a.kernel == AttentionKernel::kDecode && a.num_splits > 1 ? size_t(a.num_tokens * a.num_kv_heads) : 0;
}

void set_paged_attention_workspace(PagedAttentionArgs& a, float* ws, int32_t* counters) {
  a.part_acc = ws;
  a.part_ml = ws ? ws + size_t(a.num_tokens * a.num_q_heads) * size_t(a.num_splits) * size_t(a.head_dim) : nullptr;
  a.split_counters = counters;
}

}  // namespace ds::cuda
