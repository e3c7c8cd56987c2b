// The sorted draw (sorted_draw.h).
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/sorted_draw.h"
#include "backend/cuda/sorted_walk.cuh"

namespace ds::cuda {
namespace {

constexpr int kThreads = 512;

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

__global__ void __launch_bounds__(kThreads) sorted_draw_kernel(const float* __restrict__ logits, int64_t vocab,
                                                                const SampleRow* __restrict__ rows,
                                                                const int32_t* __restrict__ sorted_rows,
                                                                const uint64_t* __restrict__ keys,
                                                                const int32_t* __restrict__ ids,
                                                                const float* __restrict__ lse,
                                                                SampleResult* __restrict__ results) {
  __shared__ BlockWalk<kThreads>::Tmp tmp;
  __shared__ int s_pos;
  __shared__ double s_sum;
  BlockWalk<kThreads> walk{tmp, &s_pos, &s_sum};
  const int c = blockIdx.x, j = sorted_rows[c];
  const SampleRow r = rows[j];
  const uint64_t* k = keys + c * vocab;
  const int32_t* id = ids + c * vocab;
  const int pick = filtered_pick(walk, int(vocab), true, vocab, 0.0, r,
                                 [&](int i) { return from_descending_bits(uint32_t(k[i])); });
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
