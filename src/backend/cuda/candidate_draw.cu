// The candidate draw (candidate_draw.h).
#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "backend/cuda/adjusted_slice.cuh"
#include "backend/cuda/candidate_draw.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/sorted_walk.cuh"

namespace ds::cuda {
namespace {

constexpr int kBins = 256;       // d in [0, 32) by 1/8; tokens past it (and NaN) only when all are candidates
constexpr int kSlices = 32;      // fixed: a row's sums never depend on the batch
constexpr int kSliceThreads = 256;
constexpr int kSortThreads = 512, kSortItems = kCandidateCap / kSortThreads;
constexpr int kSmallThreads = 256, kSmallSlots = 512;
constexpr int kMassBins = 128;  // d < 16: the weights summed per bin; past it, e^-16 per token bounds them
static_assert(kSortThreads * kSortItems == kCandidateCap && kBins == kSliceThreads);

// One listed row's state between the kernels.
struct CandidateRow {
  int32_t hist[kBins];  // tokens per bin, all slices (left at zero by the merging block)
  unsigned long long mass[kBins];  // their weights exp(-d), fixed point 2^-40, bins < kMassBins (left at zero)
  int32_t slices_done;  // (left at zero)
  int32_t count;        // candidates; 0: not decided here
  int32_t last_bin;     // bins [0, last_bin] are the candidates; kBins: every token
  int32_t written;      // the compaction's cursor
  double slice_total[kSlices];  // the slices' parts of the weight outside the candidates
  uint64_t keys[kCandidateCap];  // the candidates, in the compaction's order
};

__device__ __forceinline__ int64_t slice_length(int64_t vocab) { return (vocab + kSlices - 1) / kSlices; }

// A thread's next kBatch logits of its slice (stride kSliceThreads from i0, up to hi), all loads
// issued before any is used: the passes are otherwise one load in flight per thread.
constexpr int kBatch = 4;
__device__ __forceinline__ void load_batch(const float* __restrict__ x, int64_t i0, int64_t hi, float (&v)[kBatch]) {
#pragma unroll
  for (int q = 0; q < kBatch; ++q) {
    const int64_t i = i0 + q * kSliceThreads;
    v[q] = i < hi ? __ldg(x + i) : 0.f;
  }
}

// The merge of a row's histogram (the last slice block, thread = bin): the candidates are the
// fewest bins that close the draw inside them by the approximate weights (top-k: k tokens; else
// top-p: the top-p share, with a 1e-4 margin for the float weights, of an upper bound of the row's
// weight, or min-p: a token past the cut with a bin's margin); if those hold more than
// kCandidateCap tokens, the most bins that hold at most kCandidateCap (the walk may still decide,
// or the row falls back). Bin counts and fixed-point masses are integers: the choice never depends
// on the order of the atomic adds.
__device__ void choose_bins(const SampleRow& r, int64_t vocab, bool finite, CandidateRow& cr) {
  const int tid = threadIdx.x;
  using ScanI = cub::BlockScan<int32_t, kSliceThreads>;
  using ScanU = cub::BlockScan<unsigned long long, kSliceThreads>;
  __shared__ union {
    typename ScanI::TempStorage i;
    typename ScanU::TempStorage u;
  } scan;
  __shared__ int32_t s_cap_count, s_need_count, s_cut_count;
  __shared__ int64_t s_far;
  int32_t incl;
  ScanI(scan.i).InclusiveSum(__ldcg(&cr.hist[tid]), incl);
  __syncthreads();
  unsigned long long mincl, mtotal;
  ScanU(scan.u).InclusiveSum(tid < kMassBins ? __ldcg(&cr.mass[tid]) : 0ull, mincl, mtotal);
  cr.hist[tid] = 0;
  cr.mass[tid] = 0;
  const int cap_bins = __syncthreads_count(incl <= kCandidateCap);  // incl grows with the bin
  const int cut_bin = r.min_p > 0.0 ? int(min(-log(r.min_p), 64.0) * 8.0) + 1 : kBins;
  if (tid == 0) s_cap_count = s_need_count = s_cut_count = 0;
  __syncthreads();
  if (tid == cap_bins - 1) s_cap_count = incl;
  if (tid == cut_bin) s_cut_count = incl;
  if (tid == kMassBins - 1) s_far = vocab - incl;  // tokens with d >= 16 (or NaN)
  __syncthreads();
  const double upper = double(mtotal) + double(s_far) * (exp(-16.0) * 0x1p40);
  bool ok;
  if (r.top_k > 0 && r.top_k < vocab) {
    ok = incl >= r.top_k;
  } else {
    ok = r.top_p < 1.0 && double(mincl) >= r.top_p * (1.0 + 1e-4) * upper;
    ok = ok || (cut_bin < kBins && tid > cut_bin && incl > s_cut_count);
  }
  const int need_bin = __syncthreads_count(!ok);  // ok is monotone in the bin: the first that closes
  if (tid == need_bin) s_need_count = incl;
  __syncthreads();
  if (tid == 0) {
    cr.written = 0;
    cr.slices_done = 0;
    if (vocab <= kCandidateCap) {
      cr.last_bin = kBins;
      cr.count = int32_t(vocab);
    } else if (need_bin < kBins && s_need_count <= kCandidateCap) {
      cr.last_bin = need_bin;
      cr.count = s_need_count;
    } else {
      cr.last_bin = cap_bins - 1;
      cr.count = s_cap_count;
    }
    if (!finite) cr.count = 0;
  }
}

// The weight bin of d = (max - l) / T (float): floor(8 d) for d < 32, else kBins (NaN too).
// Monotone in l, so every bin prefix is a prefix of the sorted order.
__device__ __forceinline__ float weight_d(float l, float top, float inv_t) { return (top - l) * inv_t; }
__device__ __forceinline__ int bin_of(float d) { return d < 32.f ? int(d * 8.f) : kBins; }

// Stage 1, grid (kSlices, listed rows): tokens and approximate weight per bin; the row's last slice
// chooses the candidates (see choose_bins).
__global__ void __launch_bounds__(kSliceThreads) histogram_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                   const SampleRow* __restrict__ rows,
                                                                   const LogitAdjustment* __restrict__ adj,
                                                                   const int32_t* __restrict__ list,
                                                                   const float* __restrict__ tops,
                                                                   CandidateRow* __restrict__ work) {
  extern __shared__ uint32_t bits[];
  __shared__ int32_t hist[kBins];
  __shared__ unsigned long long mass[kBins];
  __shared__ bool s_last;
  const int tid = threadIdx.x, j = list[blockIdx.y];
  const SampleRow r = rows[j];
  CandidateRow& cr = work[blockIdx.y];
  const float top = tops[j];
  const bool finite = isfinite(top);
  const int64_t len = slice_length(vocab), lo = int64_t(blockIdx.x) * len, hi = min(vocab, lo + len);
  hist[tid] = 0;
  mass[tid] = 0;
  AdjustedSlice as{adj + r.adj_begin, r.adj_end - r.adj_begin, lo, bits};
  as.mark(len);  // (its barriers also order the zeroing)
  __syncthreads();
  if (finite) {
    const float* x = logits + int64_t(r.logits_row) * vocab;
    const float inv_t = float(1.0 / r.temperature);
    // A thread's consecutive tokens of one bin are added up in registers first: a flat row (all of
    // it in a few bins, e.g. dummy weights) would otherwise serialize every warp on one address.
    int run_bin = kBins, run_n = 0;
    unsigned long long run_m = 0;  // fixed point 2^-40: exact sums in any order
    const auto flush = [&] {
      if (run_bin == kBins) return;
      atomicAdd(&hist[run_bin], run_n);
      if (run_bin < kMassBins) atomicAdd(&mass[run_bin], run_m);
    };
    for (int64_t base = lo + tid; base < hi; base += kBatch * kSliceThreads) {
      float v[kBatch];
      load_batch(x, base, hi, v);
#pragma unroll
      for (int q = 0; q < kBatch; ++q) {
        const int64_t i = base + q * kSliceThreads;
        if (i >= hi) break;
        const float d = weight_d(as.logit(v[q], i, r), top, inv_t);
        const int b = bin_of(d);
        if (b != run_bin) {
          flush();
          run_bin = b, run_n = 0, run_m = 0;
        }
        ++run_n;
        if (b < kMassBins) run_m += static_cast<unsigned long long>(__expf(-d) * 0x1p40f);
      }
    }
    flush();
  }
  __syncthreads();
  if (hist[tid] != 0) {
    atomicAdd(&cr.hist[tid], hist[tid]);
    atomicAdd(&cr.mass[tid], mass[tid]);
  }
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    s_last = atomicAdd(&cr.slices_done, 1) == kSlices - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  choose_bins(r, vocab, finite, cr);
}

// Stage 2, grid (kSlices, listed rows): the candidates' keys into the row's CandidateRow::keys, and
// the slice's part of the weight outside them (only for the rows stage 1 found candidates for).
__global__ void __launch_bounds__(kSliceThreads) compact_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                 const SampleRow* __restrict__ rows,
                                                                 const LogitAdjustment* __restrict__ adj,
                                                                 const int32_t* __restrict__ list,
                                                                 const float* __restrict__ tops, int id_bits,
                                                                 CandidateRow* __restrict__ work) {
  extern __shared__ uint32_t bits[];
  __shared__ typename cub::BlockReduce<double, kSliceThreads>::TempStorage reduce;
  const int c = blockIdx.y, j = list[c], lane = threadIdx.x & 31;
  CandidateRow& cr = work[c];
  if (cr.count == 0) return;
  const SampleRow r = rows[j];
  const int last_bin = cr.last_bin;
  const float top = tops[j], inv_t = float(1.0 / r.temperature);
  const int64_t len = slice_length(vocab), lo = int64_t(blockIdx.x) * len, hi = min(vocab, lo + len);
  AdjustedSlice as{adj + r.adj_begin, r.adj_end - r.adj_begin, lo, bits};
  as.mark(len);
  const float* x = logits + int64_t(r.logits_row) * vocab;
  uint64_t* out = cr.keys;
  double s = 0.0;  // the weight of the slice's tokens that are not candidates
  // Every thread runs the same iterations (the bound is on base - threadIdx.x), so the warp votes
  // below see whole warps: one atomic per warp and element.
  for (int64_t base = lo + threadIdx.x; base - threadIdx.x < hi; base += kBatch * kSliceThreads) {
    float v[kBatch];
    load_batch(x, base, hi, v);
#pragma unroll
    for (int q = 0; q < kBatch; ++q) {
      const int64_t i = base + q * kSliceThreads;
      bool take = false;
      uint64_t key = 0;
      if (i < hi) {
        const float l = as.logit(v[q], i, r);
        take = last_bin == kBins || bin_of(weight_d(l, top, inv_t)) <= last_bin;
        key = (uint64_t(descending_bits(l)) << id_bits) | uint64_t(i);
        // The weight outside the candidates: float exponentials (relative error ~1e-7 |e| per
        // term, e = (l - max) / T), summed in double; the candidates, the largest weights, are
        // summed in double by the walk. (Double exponentials for every token made this kernel
        // issue-bound: H200 ncu, 256 rows, 276 us at 80% SM throughput.)
        const float e = (l - top) * inv_t;
        if (!take && e > -64.f) s += double(__expf(e));
      }
      const unsigned mask = __ballot_sync(0xffffffffu, take);
      if (mask == 0) continue;
      const int leader = __ffs(mask) - 1;
      int slot = 0;
      if (lane == leader) slot = atomicAdd(&cr.written, __popc(mask));
      slot = __shfl_sync(0xffffffffu, slot, leader) + __popc(mask & ((1u << lane) - 1));
      if (take && slot < kCandidateCap) out[slot] = key;
    }
  }
  s = cub::BlockReduce<double, kSliceThreads>(reduce).Sum(s);
  if (threadIdx.x == 0) cr.slice_total[blockIdx.x] = s;
}

// Stage 3: a block per listed row sorts its candidates and walks them. Two sizes: rows of up to
// kSmallSlots candidates (a trained model's usual case) in the small form, the others and the
// undecided rows (count 0: id -1) in the kCandidateCap form; each form skips the other's rows.
// Only the key bits in which the candidates differ are sorted (they share the high bits: the
// logits lie within 32 T of the maximum); the padding keeps the shared bits and sorts last.
// The large form at two blocks per SM (64 registers, a few spilled): one wave of 256 rows.
template <int kThreads, int kItems>
__global__ void __launch_bounds__(kThreads, kThreads == kSortThreads ? 2 : 1)
    sort_walk_kernel(const float* __restrict__ logits, int64_t vocab, const SampleRow* __restrict__ rows,
                     const int32_t* __restrict__ list, int id_bits, const CandidateRow* __restrict__ work,
                     const float* __restrict__ lse, SampleResult* __restrict__ results) {
  constexpr int kSlots = kThreads * kItems;
  constexpr bool kSmall = kSlots == kSmallSlots;
  using Sort = cub::BlockRadixSort<uint64_t, kThreads, kItems>;
  __shared__ union {
    typename Sort::TempStorage sort;
    uint64_t sorted[kSlots];
  } sm;
  __shared__ typename BlockWalk<kThreads>::Tmp tmp;
  __shared__ int s_pos;
  __shared__ double s_sum;
  __shared__ unsigned long long s_diff;
  const int c = blockIdx.x, j = list[c], tid = threadIdx.x;
  const CandidateRow& cr = work[c];
  const int count = cr.count;
  if (count == 0) {
    if (!kSmall && tid == 0) results[j].id = -1;
    return;
  }
  if (kSmall ? count > kSlots : count <= kSmallSlots) return;
  const SampleRow r = rows[j];
  if (tid == 0) s_diff = 0;
  __syncthreads();
  const uint64_t first = cr.keys[0];
  uint64_t k[kItems], diff = 0;
#pragma unroll
  for (int q = 0; q < kItems; ++q) {
    const int idx = tid * kItems + q;
    k[q] = idx < count ? cr.keys[idx] : first;
    diff |= k[q] ^ first;
  }
  if (diff) atomicOr(&s_diff, diff);
  __syncthreads();
  const int end_bit = s_diff ? 64 - __clzll(s_diff) : 1;
  const uint64_t low = end_bit == 64 ? ~uint64_t(0) : (uint64_t(1) << end_bit) - 1;
#pragma unroll
  for (int q = 0; q < kItems; ++q)
    if (tid * kItems + q >= count) k[q] = first | low;  // ties with a real key: after it (stable)
  Sort(sm.sort).Sort(k, 0, end_bit);
  __syncthreads();
#pragma unroll
  for (int q = 0; q < kItems; ++q) sm.sorted[tid * kItems + q] = k[q];
  __syncthreads();
  double outside = 0.0;  // the slices' parts in a fixed order
  for (int q = 0; q < kSlices; ++q) outside += cr.slice_total[q];
  BlockWalk<kThreads> walk{tmp, &s_pos, &s_sum};
  const int pick = filtered_pick(walk, count, cr.last_bin == kBins, vocab, outside, r,
                                 [&](int i) { return from_descending_bits(uint32_t(sm.sorted[i] >> id_bits)); });
  if (tid == 0) {
    if (pick < 0) {
      results[j].id = -1;
      return;
    }
    const int32_t id = int32_t(sm.sorted[pick] & ((uint64_t(1) << id_bits) - 1));
    results[j].id = id;
    results[j].logprob = r.want_logprob ? logits[int64_t(r.logits_row) * vocab + id] - lse[j] : 0.f;
  }
}

}  // namespace

size_t candidate_draw_workspace_bytes(size_t rows) { return rows * sizeof(CandidateRow); }

void launch_candidate_draw(const float* x, int64_t vocab, int count, const SampleRow* d_rows,
                           const LogitAdjustment* d_adj, const int32_t* d_list, const float* d_top, const float* d_lse,
                           SampleResult* d_results, void* workspace, cudaStream_t stream) {
  auto* work = static_cast<CandidateRow*>(workspace);
  int id_bits = 1;
  while ((int64_t(1) << id_bits) < vocab) ++id_bits;
  const int64_t len = (vocab + kSlices - 1) / kSlices;
  const size_t smem = size_t(adjusted_bitmap_words(len)) * 4;
  const dim3 grid(kSlices, unsigned(count));
  histogram_kernel<<<grid, kSliceThreads, smem, stream>>>(x, vocab, d_rows, d_adj, d_list, d_top, work);
  CUDA_CHECK_LAUNCH();
  compact_kernel<<<grid, kSliceThreads, smem, stream>>>(x, vocab, d_rows, d_adj, d_list, d_top, id_bits, work);
  CUDA_CHECK_LAUNCH();
  sort_walk_kernel<kSmallThreads, kSmallSlots / kSmallThreads><<<unsigned(count), kSmallThreads, 0, stream>>>(
      x, vocab, d_rows, d_list, id_bits, work, d_lse, d_results);
  CUDA_CHECK_LAUNCH();
  sort_walk_kernel<kSortThreads, kSortItems><<<unsigned(count), kSortThreads, 0, stream>>>(
      x, vocab, d_rows, d_list, id_bits, work, d_lse, d_results);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
