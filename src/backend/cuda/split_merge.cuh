#pragma once
// The decode attention kernel's split-KV merges (paged_attention_tc.cu): a token's context cut into
// several splits leaves one partial softmax state (m, l, acc) per split, combined here in split
// order into the bf16 output, inside the same launch. Two forms:
//  - merge_if_last: the states in global memory (PagedAttentionArgs::part_ml / part_acc), counted
//    per (token, KV head); the last block to finish merges them;
//  - merge_in_cluster (sm_90): the token's splits are one thread block cluster and the states stay
//    in each block's shared memory; block 0 reads them through distributed shared memory.
// kThreads: the calling kernel's block size.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_kernels.h"

namespace ds::cuda {

// Decode split-KV epilogue, after this block wrote its partial states: counts the block in, and
// the last of the used_splits blocks of (tok, kvh) merges them into out (bf16) and resets the
// counter. ws: ws_floats floats of shared memory the block no longer needs (16-byte aligned). The
// partial states come from other SMs: fenced before the count, read past L1 (__ldcg, cp.async.cg)
// after it. Every split's (m, l) and the splits' accumulator rows (as many as ws holds: all of them
// up to group x splits x (D + 2) floats, 9,100 of 16,384 for the 7B at 10 splits) are requested
// together, so the merge waits for one round trip to the L2, not one for m, one for l and one for
// the rows (7B 128/512 decode: attention took ~14.6 us per layer in place, session 11).
// The sums are those of the earlier form: m = max_s m_s, w_s = exp(m_s - m) / sum_s exp(m_s - m) l_s,
// out = sum_s w_s acc_s, in split order.
template <int D, int kThreads>
__device__ void merge_if_last(const PagedAttentionArgs& a, int64_t tok, int32_t kvh, int32_t group,
                              int32_t used_splits, float* ws, int32_t ws_floats, bf16* __restrict__ out) {
  __shared__ bool s_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t* counter = a.split_counters + tok * a.num_kv_heads + kvh;
    s_last = atomicAdd(counter, 1) == used_splits - 1;
    if (s_last) *counter = 0;  // no other block of this launch touches it any more
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  const int64_t th0 = tok * a.num_q_heads + int64_t(kvh) * group;  // the group's first (token, head)
  const int32_t S = a.num_splits;                                   // the workspace's split stride
  const int32_t n_ml = group * used_splits;
  float* const ms = ws;            // [group][used_splits] m (natural log), then the weights
  float* const ls = ws + n_ml;     // [group][used_splits] l
  float* const accs = ws + ((2 * n_ml + 3) & ~3);  // [group][chunk][D]: a chunk of splits' rows
  const int32_t chunk = max(1, min(used_splits, (ws_floats - ((2 * n_ml + 3) & ~3)) / (group * D)));
  constexpr int kRowWords = D / 4;  // 16-byte words of an accumulator row
  auto stage = [&](int32_t s0, int32_t n) {
    for (int i = threadIdx.x; i < group * n * kRowWords; i += kThreads) {
      const int r = i / (n * kRowWords), j = (i / kRowWords) % n, w4 = i % kRowWords;
      cp_async16(accs + (r * n + j) * D + w4 * 4, a.part_acc + ((th0 + r) * S + s0 + j) * D + w4 * 4, true);
    }
    cp_async_commit();
  };
  stage(0, min(chunk, used_splits));
  for (int i = threadIdx.x; i < n_ml; i += kThreads) {
    const int r = i / used_splits, sp = i % used_splits;
    const float2 v = __ldcg(reinterpret_cast<const float2*>(a.part_ml + 2 * ((th0 + r) * S + sp)));
    ms[i] = v.x, ls[i] = v.y;
  }
  __syncthreads();
  if (int(threadIdx.x) < group) {  // weights exp(m_s - m) / l per split of row threadIdx.x
    float* w = ms + threadIdx.x * used_splits;
    const float* l_s = ls + threadIdx.x * used_splits;
    float m = -INFINITY;
    for (int32_t sp = 0; sp < used_splits; ++sp) m = fmaxf(m, w[sp]);  // every used split saw keys
    float l = 0.f;
    for (int32_t sp = 0; sp < used_splits; ++sp) {
      w[sp] = expf(w[sp] - m);
      l += w[sp] * l_s[sp];
    }
    const float inv = 1.f / l;
    for (int32_t sp = 0; sp < used_splits; ++sp) w[sp] *= inv;
  }
  constexpr int kItems = 16 * kRowWords / kThreads;  // (row, word) items per thread at group 16
  float4 v[kItems];
#pragma unroll
  for (int k = 0; k < kItems; ++k) v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int32_t s0 = 0; s0 < used_splits; s0 += chunk) {
    const int32_t n = min(chunk, used_splits - s0);
    if (s0 > 0) stage(s0, n);  // the previous chunk's rows are consumed (the barrier below)
    cp_async_wait<0>();
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = int(threadIdx.x) + k * kThreads, r = i / kRowWords, w4 = i % kRowWords;
      if (r >= group) break;
      const float* w = ms + r * used_splits + s0;
      for (int32_t j = 0; j < n; ++j) {
        const float4 x = *reinterpret_cast<const float4*>(accs + (r * n + j) * D + w4 * 4);
        v[k].x += w[j] * x.x, v[k].y += w[j] * x.y, v[k].z += w[j] * x.z, v[k].w += w[j] * x.w;
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    const int i = int(threadIdx.x) + k * kThreads, r = i / kRowWords, w4 = i % kRowWords;
    if (r >= group) break;
    __nv_bfloat162 o2[2] = {__floats2bfloat162_rn(v[k].x, v[k].y), __floats2bfloat162_rn(v[k].z, v[k].w)};
    *reinterpret_cast<uint2*>(out + (th0 + r) * D + w4 * 4) = *reinterpret_cast<const uint2*>(o2);
  }
}

// Thread block clusters (sm_90): the barrier over every thread of the cluster, in two halves
// (arrive has release, wait acquire semantics), and a peer block's address of a shared variable.
__device__ __forceinline__ void cluster_arrive() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ const float* cluster_peer(const float* p, uint32_t rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint64_t r;
  asm volatile("mapa.u64 %0, %1, %2;\n" : "=l"(r) : "l"(p), "r"(rank));
  return reinterpret_cast<const float*>(r);
#else
  return rank == 0 ? p : nullptr;  // never launched with clusters before sm_90
#endif
}

// The cluster form of the split-KV merge (a.cluster_splits, when a token's used splits fit one
// cluster: they are blocks y = 0 .. used_splits - 1 of the cluster, whose rank is y). Every block
// of the cluster has left its state in `st` (its own shared memory: acc [group][D], then m [group]
// in natural-log units, then l [group]) and arrived at the cluster barrier; block 0 reads the states
// through distributed shared memory, merges them as merge_if_last does (same sums, split order),
// writes out and arrives at a second barrier, which the other blocks wait for before they exit
// (their shared memory must outlive its reads). No global partials, fence or counter: the blocks
// of a cluster run at once on one GPC.
template <int D, int kThreads>
__device__ void merge_in_cluster(int64_t th0, int32_t group, int32_t used_splits, const float* st, float* wts,
                                 bf16* __restrict__ out) {
  cluster_arrive();
  cluster_wait();
  if (blockIdx.y != 0) {
    cluster_arrive();
    cluster_wait();
    return;
  }
  constexpr int kMaxSplits = 8;
  if (int(threadIdx.x) < group) {  // weights exp(m_s - m) / l per split of row threadIdx.x
    float ms[kMaxSplits], ls[kMaxSplits];
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp) {
      if (sp < used_splits) {
        const float* peer = cluster_peer(st, uint32_t(sp));
        ms[sp] = peer[group * D + threadIdx.x], ls[sp] = peer[group * D + group + threadIdx.x];
      }
    }
    float* w = wts + threadIdx.x * kMaxSplits;
    float m = -INFINITY;
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp)
      if (sp < used_splits) m = fmaxf(m, ms[sp]);
    float l = 0.f;
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp) {
      if (sp < used_splits) {
        w[sp] = expf(ms[sp] - m);
        l += w[sp] * ls[sp];
      }
    }
    const float inv = 1.f / l;
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp)
      if (sp < used_splits) w[sp] *= inv;
  }
  __syncthreads();
  constexpr int kRowWords = D / 4;
  constexpr int kItems = 16 * kRowWords / kThreads;
  float4 v[kItems];
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    const int i = int(threadIdx.x) + k * kThreads, r = i / kRowWords, w4 = i % kRowWords;
    if (r >= group) break;
    float4 x[kMaxSplits];
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp)
      if (sp < used_splits) x[sp] = *reinterpret_cast<const float4*>(cluster_peer(st, uint32_t(sp)) + r * D + w4 * 4);
    const float* w = wts + r * kMaxSplits;
#pragma unroll
    for (int sp = 0; sp < kMaxSplits; ++sp)
      if (sp < used_splits)
        v[k].x += w[sp] * x[sp].x, v[k].y += w[sp] * x[sp].y, v[k].z += w[sp] * x[sp].z, v[k].w += w[sp] * x[sp].w;
  }
  cluster_arrive();  // every peer read is done: the other blocks may exit
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    const int i = int(threadIdx.x) + k * kThreads, r = i / kRowWords, w4 = i % kRowWords;
    if (r >= group) break;
    __nv_bfloat162 o2[2] = {__floats2bfloat162_rn(v[k].x, v[k].y), __floats2bfloat162_rn(v[k].z, v[k].w)};
    *reinterpret_cast<uint2*>(out + (th0 + r) * D + w4 * 4) = *reinterpret_cast<const uint2*>(o2);
  }
}

}  // namespace ds::cuda
