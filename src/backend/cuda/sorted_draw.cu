// The sorted draw (sorted_draw.h).
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <climits>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/sorted_draw.h"

namespace ds::cuda {
namespace {

constexpr int kThreads = 512;

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

// keys [chunk, vocab], ids [chunk, vocab] for the chunk's rows (sorted_rows[c] = batch row).
__global__ void write_keys_kernel(const float* __restrict__ logits, int64_t vocab, const SampleRow* __restrict__ rows,
                                  const int32_t* __restrict__ sorted_rows, uint64_t* __restrict__ keys,
                                  int32_t* __restrict__ ids) {
  const int c = blockIdx.y;
  const float* x = logits + int64_t(rows[sorted_rows[c]].logits_row) * vocab;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < vocab; i += int64_t(gridDim.x) * blockDim.x) {
    keys[c * vocab + i] = (uint64_t(c) << 32) | descending_bits(x[i]);
    ids[c * vocab + i] = int32_t(i);
  }
}

__global__ void adjust_keys_kernel(const float* __restrict__ logits, int64_t vocab, const SampleRow* __restrict__ rows,
                                   const LogitAdjustment* __restrict__ adj, const int32_t* __restrict__ sorted_rows,
                                   uint64_t* __restrict__ keys) {
  const int c = blockIdx.x;
  const SampleRow r = rows[sorted_rows[c]];
  const float* x = logits + int64_t(r.logits_row) * vocab;
  for (int k = r.adj_begin + int(threadIdx.x); k < r.adj_end; k += blockDim.x) {
    const int32_t t = adj[k].token;
    keys[c * vocab + t] = (uint64_t(c) << 32) | descending_bits(adjusted_logit(x[t], adj[k], r));
  }
}

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
  // First i in [0, n) whose running total of w reaches target; n - 1 when rounding keeps it below.
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
    return n - 1;
  }
};

__global__ void __launch_bounds__(kThreads) sorted_draw_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                const SampleRow* __restrict__ rows,
                                                                const int32_t* __restrict__ sorted_rows,
                                                                const uint64_t* __restrict__ keys,
                                                                const int32_t* __restrict__ ids,
                                                                const float* __restrict__ lse,
                                                                SampleResult* __restrict__ results) {
  __shared__ BlockWalk::Tmp tmp;
  __shared__ int s_pos;
  __shared__ double s_sum;
  BlockWalk walk{tmp, &s_pos, &s_sum};
  const int c = blockIdx.x, j = sorted_rows[c];
  const SampleRow r = rows[j];
  const uint64_t* k = keys + c * vocab;
  const int32_t* id = ids + c * vocab;
  const auto logit = [&](int i) { return from_descending_bits(uint32_t(k[i])); };
  const double top = logit(0), t = r.temperature;
  int pick = 0;
  if (isfinite(top)) {
    const auto w = [&](int i) { return exp((double(logit(i)) - top) / t); };
    // Sorted: each filter keeps a prefix; the last entry tells whether a scan is needed at all.
    int n = int(vocab);
    if (!(w(n - 1) > 0.0)) n = walk.first_index(n, [&](int i) { return !(w(i) > 0.0); });
    if (r.top_k > 0 && r.top_k < n) n = r.top_k;
    const double topk_mass = r.top_p < 1.0 ? walk.sum(n, w) : 0.0;
    if (r.min_p > 0.0 && w(n - 1) < r.min_p) n = walk.first_index(n, [&](int i) { return w(i) < r.min_p; });
    if (r.top_p < 1.0) n = walk.crossing(n, r.top_p * topk_mass, w) + 1;
    const double mass = walk.sum(n, w);
    const Philox4 u = philox_words(r.seed, r.step, 0, kPhiloxFilteredDraw);
    pick = walk.crossing(n, philox_uniform53(u.v[0], u.v[1]) * mass, w);
  }
  if (threadIdx.x == 0) {
    const float* x = logits + int64_t(r.logits_row) * vocab;
    results[j].id = id[pick];
    results[j].logprob = r.want_logprob ? x[id[pick]] - lse[j] : 0.f;
  }
}

size_t align16(size_t b) { return (b + 15) / 16 * 16; }

size_t sort_scratch_bytes(size_t items, cudaStream_t stream) {
  size_t temp = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp, static_cast<const uint64_t*>(nullptr),
                                             static_cast<uint64_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr), int64_t(items), 0, 64, stream));
  return temp;
}

}  // namespace

size_t sorted_draw_workspace_bytes(size_t items, cudaStream_t stream) {
  return 2 * align16(items * 8) + 2 * align16(items * 4) + sort_scratch_bytes(items, stream);
}

void launch_sorted_draw(const float* x, int64_t vocab, int chunk, const SampleRow* d_rows, const LogitAdjustment* d_adj,
                        const int32_t* d_sorted, const float* d_lse, SampleResult* d_results, void* workspace,
                        cudaStream_t stream) {
  const size_t items = size_t(chunk) * size_t(vocab);
  size_t temp = sort_scratch_bytes(items, stream);
  const size_t keys_bytes = align16(items * 8), ids_bytes = align16(items * 4);
  uint8_t* s = static_cast<uint8_t*>(workspace);
  auto* keys_in = reinterpret_cast<uint64_t*>(s);
  auto* keys_out = reinterpret_cast<uint64_t*>(s + keys_bytes);
  auto* ids_in = reinterpret_cast<int32_t*>(s + 2 * keys_bytes);
  auto* ids_out = reinterpret_cast<int32_t*>(s + 2 * keys_bytes + ids_bytes);
  void* d_temp = s + 2 * keys_bytes + 2 * ids_bytes;
  const unsigned blocks_x = unsigned(std::min<int64_t>((vocab + 1023) / 1024, 64));
  write_keys_kernel<<<dim3(blocks_x, unsigned(chunk)), 1024, 0, stream>>>(x, vocab, d_rows, d_sorted, keys_in, ids_in);
  CUDA_CHECK_LAUNCH();
  adjust_keys_kernel<<<unsigned(chunk), 128, 0, stream>>>(x, vocab, d_rows, d_adj, d_sorted, keys_in);
  CUDA_CHECK_LAUNCH();
  int seg_bits = 0;
  while ((1 << seg_bits) < chunk) ++seg_bits;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(d_temp, temp, keys_in, keys_out, ids_in, ids_out, int64_t(items), 0,
                                             32 + seg_bits, stream));
  sorted_draw_kernel<<<unsigned(chunk), kThreads, 0, stream>>>(x, vocab, d_rows, d_sorted, keys_out, ids_out, d_lse,
                                                               d_results);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
