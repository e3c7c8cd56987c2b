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
static_assert(kSortThreads * kSortItems == kCandidateCap && kBins == kSliceThreads);

// One listed row's state between the kernels.
struct CandidateRow {
  int32_t hist[kBins];  // tokens per bin, all slices (left at zero by the merging block)
  int32_t slices_done;  // (left at zero)
  int32_t count;        // candidates; 0: not decided here
  int32_t last_bin;     // bins [0, last_bin] are the candidates; kBins: every token
  int32_t written;      // the compaction's cursor
  double slice_total[kSlices];  // the slices' parts of sum exp((l - max) / T) over the row
  uint64_t keys[kCandidateCap];  // the candidates, in the compaction's order
};

__device__ __forceinline__ int64_t slice_length(int64_t vocab) { return (vocab + kSlices - 1) / kSlices; }

// The weight bin of processed logit l: floor(8 (max - l) / T) for d < 32, else kBins (NaN too).
// Monotone in l, so every bin prefix is a prefix of the sorted order.
__device__ __forceinline__ int weight_bin(float l, float top, float inv_t) {
  const float d = (top - l) * inv_t;
  return d < 32.f ? int(d * 8.f) : kBins;
}

// Stage 1, grid (kSlices, listed rows).
__global__ void __launch_bounds__(kSliceThreads) histogram_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                   const SampleRow* __restrict__ rows,
                                                                   const LogitAdjustment* __restrict__ adj,
                                                                   const int32_t* __restrict__ list,
                                                                   const float* __restrict__ tops,
                                                                   CandidateRow* __restrict__ work) {
  extern __shared__ uint32_t bits[];
  __shared__ int32_t hist[kBins];
  __shared__ bool s_last;
  const int tid = threadIdx.x, j = list[blockIdx.y];
  const SampleRow r = rows[j];
  CandidateRow& cr = work[blockIdx.y];
  const float top = tops[j];
  const bool finite = isfinite(top);
  const int64_t len = slice_length(vocab), lo = int64_t(blockIdx.x) * len, hi = min(vocab, lo + len);
  hist[tid] = 0;
  AdjustedSlice as{adj + r.adj_begin, r.adj_end - r.adj_begin, lo, bits};
  as.mark(len);  // (its barriers also order the zeroing)
  __syncthreads();
  if (finite) {
    const float* x = logits + int64_t(r.logits_row) * vocab;
    const float inv_t = float(1.0 / r.temperature);
    for (int64_t i = lo + tid; i < hi; i += kSliceThreads) {
      const int b = weight_bin(as.logit(x[i], i, r), top, inv_t);
      if (b < kBins) atomicAdd(&hist[b], 1);
    }
  }
  __syncthreads();
  if (hist[tid] != 0) atomicAdd(&cr.hist[tid], hist[tid]);
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    s_last = atomicAdd(&cr.slices_done, 1) == kSlices - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  // The merge: the most bins whose tokens number at most kCandidateCap.
  using Scan = cub::BlockScan<int32_t, kSliceThreads>;
  __shared__ typename Scan::TempStorage scan;
  int32_t incl;
  Scan(scan).InclusiveSum(__ldcg(&cr.hist[tid]), incl);
  const int bins = __syncthreads_count(incl <= kCandidateCap);  // incl grows with the bin
  __shared__ int32_t s_count;
  if (tid == 0) s_count = 0;
  __syncthreads();
  if (tid == bins - 1) s_count = incl;
  cr.hist[tid] = 0;
  __syncthreads();
  if (tid == 0) {
    const bool all = vocab <= kCandidateCap;
    cr.written = 0;
    cr.slices_done = 0;
    cr.last_bin = all ? kBins : bins - 1;
    cr.count = !finite ? 0 : all ? int32_t(vocab) : s_count;
  }
}

// Stage 2, grid (kSlices, listed rows): the candidates' keys into the row's CandidateRow::keys, and
// the slice's part of the row's total weight (only for the rows stage 1 found candidates for).
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
  double s = 0.0;
  for (int64_t base = lo; base < hi; base += kSliceThreads) {  // whole warps: one atomic per warp
    const int64_t i = base + threadIdx.x;
    bool take = false;
    uint64_t key = 0;
    if (i < hi) {
      const float l = as.logit(x[i], i, r);
      take = last_bin == kBins || weight_bin(l, top, inv_t) <= last_bin;
      key = (uint64_t(descending_bits(l)) << id_bits) | uint64_t(i);
      // Terms below e^-64 are left out: all of them together stay far below one unit in the last
      // place of a total >= 1 (the maximum's own weight).
      if ((top - l) * inv_t < 64.f) s += exp((double(l) - double(top)) / r.temperature);
    }
    const unsigned mask = __ballot_sync(0xffffffffu, take);
    if (mask == 0) continue;
    const int leader = __ffs(mask) - 1;
    int slot = 0;
    if (lane == leader) slot = atomicAdd(&cr.written, __popc(mask));
    slot = __shfl_sync(0xffffffffu, slot, leader) + __popc(mask & ((1u << lane) - 1));
    if (take && slot < kCandidateCap) out[slot] = key;
  }
  s = cub::BlockReduce<double, kSliceThreads>(reduce).Sum(s);
  if (threadIdx.x == 0) cr.slice_total[blockIdx.x] = s;
}

// Stage 3: a block per listed row sorts its candidates and walks them.
__global__ void __launch_bounds__(kSortThreads) sort_walk_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                  const SampleRow* __restrict__ rows,
                                                                  const int32_t* __restrict__ list, int id_bits,
                                                                  const CandidateRow* __restrict__ work,
                                                                  const float* __restrict__ lse,
                                                                  SampleResult* __restrict__ results) {
  using Sort = cub::BlockRadixSort<uint64_t, kSortThreads, kSortItems>;
  __shared__ union {
    typename Sort::TempStorage sort;
    uint64_t sorted[kCandidateCap];
  } sm;
  __shared__ typename BlockWalk<kSortThreads>::Tmp tmp;
  __shared__ int s_pos;
  __shared__ double s_sum;
  const int c = blockIdx.x, j = list[c], tid = threadIdx.x;
  const CandidateRow& cr = work[c];
  const int count = cr.count;
  if (count == 0) {
    if (tid == 0) results[j].id = -1;
    return;
  }
  const SampleRow r = rows[j];
  uint64_t k[kSortItems];
#pragma unroll
  for (int q = 0; q < kSortItems; ++q) {
    const int idx = tid * kSortItems + q;
    k[q] = idx < count ? cr.keys[idx] : ~uint64_t(0);  // padding sorts last
  }
  Sort(sm.sort).Sort(k, 0, 32 + id_bits);
  __syncthreads();
#pragma unroll
  for (int q = 0; q < kSortItems; ++q) sm.sorted[tid * kSortItems + q] = k[q];
  __syncthreads();
  double total = 0.0;  // the slices' parts in a fixed order
  for (int k = 0; k < kSlices; ++k) total += cr.slice_total[k];
  BlockWalk<kSortThreads> walk{tmp, &s_pos, &s_sum};
  const int pick = filtered_pick(walk, count, cr.last_bin == kBins, total, vocab, r,
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
  sort_walk_kernel<<<unsigned(count), kSortThreads, 0, stream>>>(x, vocab, d_rows, d_list, id_bits, work, d_lse,
                                                                 d_results);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
