#pragma once
// The filtered draw over a row's logits sorted best first (equal logits: lower id first), shared by
// the full sort (sorted_draw.cu) and the candidate draw (candidate_draw.cu): one block per row walks
// the sorted entries with CUB block scans. Weights w(i) = exp((l_i - max) / T) in double; candidates
// w > 0, top-k, the top-k mass, min-p (w < min_p), top-p on the top-k mass, then the crossing of
// u * mass with one Philox double u. CPU reference: ref_sorted in tests/gpu/sampling_test.cpp.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <climits>
#include <cmath>
#include <cstdint>

#include "backend/sampling.h"

namespace ds::cuda {

// Sort keys: NaN -> -inf, -0 -> +0 (the host compares them equal), then bits whose unsigned
// ascending order is the logit's descending order.
__device__ __forceinline__ uint32_t descending_bits(float v) {
  if (v != v) v = -INFINITY;
  v += 0.f;
  const uint32_t u = __float_as_uint(v);
  const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}
__device__ __forceinline__ float from_descending_bits(uint32_t d) {
  const uint32_t ascending = ~d;
  return __uint_as_float((ascending & 0x80000000u) ? (ascending & 0x7FFFFFFFu) : ~ascending);
}

template <int kThreads>
struct BlockWalk {
  using Scan = cub::BlockScan<double, kThreads>;
  using Reduce = cub::BlockReduce<double, kThreads>;
  union Tmp {
    typename Scan::TempStorage scan;
    typename Reduce::TempStorage reduce;
  };
  Tmp& tmp;
  int* s_pos;
  double* s_sum;

  // First i in [0, n) with pred(i); n when none.
  template <class Pred>
  __device__ int first_index(int n, Pred pred) {
    for (int base = 0; base < n; base += kThreads) {
      const int i = base + int(threadIdx.x);
      const bool hit = i < n && pred(i);
      if (__syncthreads_or(hit)) return lowest(hit, i);
    }
    return n;
  }
  // The lowest i among the threads with hit (at least one has).
  __device__ int lowest(bool hit, int i) {
    if (threadIdx.x == 0) *s_pos = INT_MAX;
    __syncthreads();
    if (hit) atomicMin(s_pos, i);
    __syncthreads();
    return *s_pos;  // rewritten only after the next block-wide barrier
  }
  template <class Weight>
  __device__ double sum(int n, Weight w) {
    double s = 0.0;
    for (int i = int(threadIdx.x); i < n; i += kThreads) s += w(i);
    s = Reduce(tmp.reduce).Sum(s);
    if (threadIdx.x == 0) *s_sum = s;
    __syncthreads();
    s = *s_sum;
    __syncthreads();
    return s;
  }
  // First i in [0, n) whose running total of w reaches target; n when rounding keeps it below.
  template <class Weight>
  __device__ int crossing(int n, double target, Weight w) {
    double carry = 0.0;
    for (int base = 0; base < n; base += kThreads) {
      const int i = base + int(threadIdx.x);
      double incl, total;
      Scan(tmp.scan).InclusiveSum(i < n ? w(i) : 0.0, incl, total);
      const bool hit = i < n && carry + incl >= target;
      if (__syncthreads_or(hit)) return lowest(hit, i);  // the barrier also frees tmp for the next scan
      carry += total;
    }
    return n;
  }
};

// The index of the drawn entry among the first `count` sorted entries (logit(i), best first), or -1
// when they cannot decide it. complete: the entries are the whole row (always decided); otherwise
// they are the row's best `count` (a prefix of the full order) and `outside` is the weight of the
// rest of the row: the draw is decided when a filter cuts inside the prefix and, for top-p, the
// top-k mass is known (top-k off: the prefix's weight + outside; top-k inside the prefix: its own sum).
template <int kThreads, class Logit>
__device__ int filtered_pick(BlockWalk<kThreads>& walk, int count, bool complete, int64_t vocab,
                             double outside, const SampleRow& r, Logit logit) {
  const double top = logit(0), t = r.temperature;
  if (!isfinite(top)) return complete ? 0 : -1;
  const auto w = [&](int i) { return exp((double(logit(i)) - top) / t); };
  // Sorted: each filter keeps a prefix; the last entry tells whether a scan is needed at all.
  int n = count;
  bool open = !complete;  // no cut inside the prefix yet: the kept entries may reach past it
  if (!(w(n - 1) > 0.0)) {
    n = walk.first_index(n, [&](int i) { return !(w(i) > 0.0); });
    open = false;
  }
  const bool top_k = r.top_k > 0 && r.top_k < vocab;
  if (top_k && r.top_k <= n) {
    n = r.top_k;
    open = false;
  }
  double topk_mass = 0.0;
  if (r.top_p < 1.0) {
    if (open && top_k) return -1;  // the top-k mass reaches past the prefix
    topk_mass = walk.sum(n, w) + (open ? outside : 0.0);
  }
  if (r.min_p > 0.0 && w(n - 1) < r.min_p) {
    n = walk.first_index(n, [&](int i) { return w(i) < r.min_p; });
    open = false;
  }
  if (r.top_p < 1.0) {
    const int c = walk.crossing(n, r.top_p * topk_mass, w);
    if (c == n && open) return -1;
    n = c == n ? n : c + 1;
    open = false;
  }
  if (open) return -1;
  const double mass = walk.sum(n, w);
  const Philox4 u = philox_words(r.seed, r.step, 0, kPhiloxFilteredDraw);
  const int pick = walk.crossing(n, philox_uniform53(u.v[0], u.v[1]) * mass, w);
  return pick == n ? n - 1 : pick;
}

}  // namespace ds::cuda
