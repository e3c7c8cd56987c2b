// Device sampling (backend/sampling.h). Every row is cut into kSplits slices; sample_partial_kernel
// (grid slices x rows) makes one pass over each slice:
//   - raw log-sum-exp (online max/sum) for the logprobs (rows that want none skip it), and, for rows
//     that ask for top logprobs, the slice's top-20 raw entries (a sorted list per thread in
//     registers, merged by block rounds);
//   - greedy rows: argmax of the processed logits (first maximum);
//   - pure-temperature rows: Gumbel-max, argmax of l/T - log(-log(u_i)) with u_i from Philox keyed
//     by (seed, step, i): an exact draw from softmax(l/T) in the same single pass.
// The block that finishes a row's last slice (a per-row counter) combines the row's slices with one
// warp, a lane per slice, in a fixed order (merge_row): no second kernel launch on a decode step's
// turnaround. The step's metadata goes up on a copy stream while the forward still runs, and for a
// few rows the results are written straight into page-locked host memory (mapped): neither copy
// waits behind the forward or after the kernels.
// Rows with top-k/top-p/min-p then go through the candidate draw (candidate_draw.cu: their best
// entries only, the row's maximum from this pass) and, the rows it cannot decide or with a top-k
// past its candidates, through the full sort (sorted_draw.cu, up to kSortChunk rows at a time).
// Adjusted tokens (logit_bias, min_tokens, penalties: a short list sorted by token) are marked in a
// shared-memory bitmap of the slice and looked up by binary search when the pass meets one.
// CPU reference: engine/sampler.cpp (greedy, logprobs, processors) and the host implementation of
// the same draws in tests/gpu/sampling_test.cpp.
#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/adjusted_slice.cuh"
#include "backend/cuda/candidate_draw.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_sampler.h"
#include "backend/cuda/sorted_draw.h"

namespace ds::cuda {
namespace {

constexpr int kSortChunk = 64;  // rows sorted at once: bounds the key workspace (64 x 152k x 24 B)

struct ArgBest {
  float v;
  int32_t i;  // INT_MAX: none
};
__device__ __forceinline__ bool better(ArgBest a, ArgBest b) { return a.v > b.v || (a.v == b.v && a.i < b.i); }
struct BetterOp {
  __device__ ArgBest operator()(ArgBest a, ArgBest b) const { return better(a, b) ? a : b; }
};

struct Lse {
  float m, s;  // running max and sum of exp(x - m)
};
struct LseOp {
  __device__ Lse operator()(Lse a, Lse b) const {
    const float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return {m, 0.f};
    return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
  }
};
// Four logits of a group into the running log-sum-exp: the group's maximum first (one rescale of
// the sum at most), then one exponential per logit. -inf and NaN add nothing (the host skips NaN
// too). __expf (ex2.approx): the terms are <= 1 and their relative error ~1e-7 per term, far below
// what a float logprob shows; the accurate expf with a rescale per element made the pass
// issue-bound (ncu, 1,024 greedy rows on an H200: SM 69% busy, DRAM 18%).
__device__ __forceinline__ void lse_add4(Lse& a, const float (&v)[4], int n) {
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (k < n) m = fmaxf(m, v[k]);  // fmaxf drops NaN
  if (!(m > -INFINITY)) return;
  if (m > a.m) {
    a.s *= __expf(a.m - m);  // a.m = -inf: 0 * exp(-inf), the sum is still 0
    a.m = m;
  }
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (k < n && v[k] > -INFINITY) a.s += __expf(v[k] - a.m);
}

__device__ __forceinline__ float gumbel(uint32_t x) { return -logf(-logf(philox_uniform_open(x))); }

enum Mode { kGreedy = 0, kGumbel = 1, kSorted = 2 };

// Each row is cut into kSplits slices of whole Philox groups (a fixed count: a row's numbers and
// reduction order never depend on the batch, so its results are bitwise batch-invariant).
constexpr int kSplits = 32;
constexpr int kPartThreads = 256;

struct Partial {
  Lse lse;
  ArgBest best;
  int32_t num_top;
  ArgBest top[kMaxSampleLogprobs];  // the slice's best raw entries, best first
};

__device__ __forceinline__ int64_t slice_len(int64_t vocab) { return ((vocab + 3) / 4 + kSplits - 1) / kSplits * 4; }

using ReduceBest = cub::BlockReduce<ArgBest, kPartThreads>;

// Top-n raw entries of slice [lo, hi) of row x into part.top: each thread keeps its best
// kMaxSampleLogprobs in registers (sorted, unrolled: no local memory), then n rounds pop the
// block's best head.
__device__ void slice_top(const float* __restrict__ x, int64_t lo, int64_t hi, int n, Partial& part,
                          ReduceBest::TempStorage& storage, ArgBest* s_best) {
  const int tid = threadIdx.x;
  ArgBest list[kMaxSampleLogprobs];
#pragma unroll
  for (int k = 0; k < kMaxSampleLogprobs; ++k) list[k] = {-INFINITY, INT_MAX};
  for (int64_t i = lo + tid; i < hi; i += kPartThreads) {
    ArgBest c{x[i], int32_t(i)};
    if (c.v != c.v || !better(c, list[kMaxSampleLogprobs - 1])) continue;
#pragma unroll
    for (int k = 0; k < kMaxSampleLogprobs; ++k) {
      if (better(c, list[k])) {
        const ArgBest t = list[k];
        list[k] = c;
        c = t;
      }
    }
  }
  for (int t = 0; t < n; ++t) {
    __syncthreads();
    const ArgBest top = ReduceBest(storage).Reduce(list[0], BetterOp());
    if (tid == 0) *s_best = top;
    __syncthreads();
    const ArgBest w = *s_best;
    if (w.i == INT_MAX) break;
    if (tid == 0) {
      part.top[t] = w;
      part.num_top = t + 1;
    }
    if (list[0].i == w.i) {  // this thread's head won: pop it
#pragma unroll
      for (int k = 0; k + 1 < kMaxSampleLogprobs; ++k) list[k] = list[k + 1];
      list[kMaxSampleLogprobs - 1] = {-INFINITY, INT_MAX};
    }
  }
}

__device__ void merge_row(int row, const float* logits, int64_t vocab, const SampleRow& r, const Partial* parts,
                          SampleResult* results, float* lse_out, float* top_out);

// The body of the partial kernels below. Grid (kSplits, rows): one slice of one row ->
// parts[row * kSplits + split]; the row's last block to finish merges them (counters[row]: slices
// done, reset to 0 by the merging block). kLoads: float4 groups each thread loads before it
// processes them. kPlain: every row of the launch is greedy without logprobs or adjusted tokens
// (the offline benchmark's ~1,000-row decode steps): the same argmax in the same order, without the
// log-sum-exp, Gumbel and bitmap code, so the kernel keeps fewer registers and more blocks (and
// loads) per SM.
template <int kLoads, bool kPlain>
__device__ __forceinline__ void sample_partial(const float* __restrict__ logits, int64_t vocab,
                                               const SampleRow* __restrict__ rows,
                                               const LogitAdjustment* __restrict__ adj, Partial* __restrict__ parts,
                                               int32_t* __restrict__ counters, SampleResult* __restrict__ results,
                                               float* __restrict__ lse_out, float* __restrict__ top_out) {
  extern __shared__ uint32_t bits[];  // adjusted-token bitmap of the slice
  using ReduceLse = cub::BlockReduce<Lse, kPartThreads>;
  __shared__ union {
    typename ReduceBest::TempStorage best;
    typename ReduceLse::TempStorage lse;
  } tmp;
  __shared__ ArgBest s_best;
  const int tid = threadIdx.x;
  const SampleRow r = rows[blockIdx.y];
  const float* x = logits + int64_t(r.logits_row) * vocab;
  const int64_t len = slice_len(vocab), lo = int64_t(blockIdx.x) * len, hi = min(vocab, lo + len);
  const int mode = kPlain || r.temperature <= 0.0 ? kGreedy : needs_sorted_draw(r, vocab) ? kSorted : kGumbel;
  const float temp = float(r.temperature);
  // The log-sum-exp serves the logprobs only (the sorted draw's logprob too, not its draw): without
  // them a greedy row is an argmax pass, a Gumbel row an argmax of the perturbed logits.
  const bool need_lse = !kPlain && (r.want_logprob || r.num_logprobs > 0);
  AdjustedSlice as{adj + r.adj_begin, kPlain ? 0 : r.adj_end - r.adj_begin, lo, bits};
  as.mark(len);
  Lse acc{-INFINITY, 0.f};
  ArgBest best{-INFINITY, INT_MAX};
  const bool vec = (reinterpret_cast<uintptr_t>(x) & 15) == 0;
  // A thread's groups g, g + kPartThreads, ... in that order (as one group at a time would take
  // them: the same results bitwise), kLoads of them loaded before any is processed.
  for (int64_t g0 = lo / 4 + tid; g0 * 4 < hi; g0 += kLoads * kPartThreads) {
    float v[kLoads][4];
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      const int64_t i0 = (g0 + u * kPartThreads) * 4;
      if (vec && i0 + 4 <= hi) {
        const float4 f = __ldg(reinterpret_cast<const float4*>(x + i0));
        v[u][0] = f.x, v[u][1] = f.y, v[u][2] = f.z, v[u][3] = f.w;
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) v[u][k] = i0 + k < hi ? x[i0 + k] : NAN;
      }
    }
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      const int64_t g = g0 + u * kPartThreads, i0 = g * 4;
      if (i0 >= hi) break;
      const int n = hi - i0 < 4 ? int(hi - i0) : 4;
      if (need_lse) lse_add4(acc, v[u], n);
      Philox4 ph{{0, 0, 0, 0}};
      if (mode == kGumbel) ph = philox_words(r.seed, r.step, uint32_t(g), kPhiloxGumbel);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int32_t i = int32_t(i0 + k);
        if (k >= n) break;
        const float p = as.logit(v[u][k], i, r);
        // Greedy and sorted rows: the processed logit (sorted rows: their maximum is the candidate
        // draw's reference point).
        const float score = mode == kGumbel ? p / temp + gumbel(ph.v[k]) : p;
        if (score > -INFINITY && better({score, i}, best)) best = {score, i};
      }
    }
  }
  Lse tot = acc;  // {-inf, 0} when not needed (need_lse is the same for the whole block)
  if (need_lse) {
    tot = ReduceLse(tmp.lse).Reduce(acc, LseOp());
    __syncthreads();
  }
  const ArgBest b = ReduceBest(tmp.best).Reduce(best, BetterOp());
  Partial& part = parts[int64_t(blockIdx.y) * kSplits + blockIdx.x];
  if (tid == 0) {
    part.lse = tot;
    part.best = b;
    part.num_top = 0;
  }
  if (!kPlain && r.num_logprobs > 0) slice_top(x, lo, hi, r.num_logprobs, part, tmp.best, &s_best);
  // Hand-off: the row's last slice to finish merges (its reads see every slice's writes: each
  // writer fences before it counts, the last one fences after).
  __shared__ bool s_last;
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    s_last = atomicAdd(&counters[blockIdx.y], 1) == kSplits - 1;
  }
  __syncthreads();
  if (!s_last || tid >= 32) return;
  __threadfence();
  merge_row(int(blockIdx.y), logits, vocab, r, parts, results, lse_out, top_out);
  if (tid == 0) counters[blockIdx.y] = 0;
}

// The kernels: the general one with the launch bounds it always had (ptxas: 64 registers at
// kLoads 1, 80 at 4), the plain one held to 6 blocks per SM (40 registers).
template <int kLoads>
__global__ void __launch_bounds__(kPartThreads)
    sample_partial_kernel(const float* __restrict__ logits, int64_t vocab, const SampleRow* __restrict__ rows,
                          const LogitAdjustment* __restrict__ adj, Partial* __restrict__ parts,
                          int32_t* __restrict__ counters, SampleResult* __restrict__ results,
                          float* __restrict__ lse_out, float* __restrict__ top_out) {
  sample_partial<kLoads, false>(logits, vocab, rows, adj, parts, counters, results, lse_out, top_out);
}
__global__ void __launch_bounds__(kPartThreads, 6)
    sample_plain_kernel(const float* __restrict__ logits, int64_t vocab, const SampleRow* __restrict__ rows,
                        const LogitAdjustment* __restrict__ adj, Partial* __restrict__ parts,
                        int32_t* __restrict__ counters, SampleResult* __restrict__ results,
                        float* __restrict__ lse_out, float* __restrict__ top_out) {
  sample_partial<4, true>(logits, vocab, rows, adj, parts, counters, results, lse_out, top_out);
}

__device__ __forceinline__ ArgBest warp_best(ArgBest v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const ArgBest other{__shfl_xor_sync(0xffffffffu, v.v, o), __shfl_xor_sync(0xffffffffu, v.i, o)};
    if (better(other, v)) v = other;
  }
  return v;
}

// A slice's partial state as another block wrote it in this launch: loads through L2 (ld.cg),
// never a stale L1 line.
__device__ __forceinline__ ArgBest load_best(const ArgBest* b) { return {__ldcg(&b->v), __ldcg(&b->i)}; }

// The merge of row `row`'s slices, one warp, lane = split (kSplits == 32): log-sum-exp, the pick
// (greedy / Gumbel rows; sorted rows: the maximum processed logit into top_out) and the top-n, in a
// fixed order: bitwise the same in any batch.
__device__ void merge_row(int row, const float* logits, int64_t vocab, const SampleRow& r, const Partial* parts,
                          SampleResult* results, float* lse_out, float* top_out) {
  static_assert(kSplits == 32, "one lane per split");
  const int lane = threadIdx.x;
  const Partial* p = parts + int64_t(row) * kSplits + lane;
  Lse l{__ldcg(&p->lse.m), __ldcg(&p->lse.s)};
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const Lse other{__shfl_xor_sync(0xffffffffu, l.m, o), __shfl_xor_sync(0xffffffffu, l.s, o)};
    l = lane & o ? LseOp()(other, l) : LseOp()(l, other);
  }
  const float lse = l.m == -INFINITY ? -INFINITY : l.m + logf(l.s);
  const ArgBest b = warp_best(load_best(&p->best));
  SampleResult& res = results[row];
  const float* x = logits + int64_t(r.logits_row) * vocab;
  if (lane == 0) {
    lse_out[row] = lse;
    top_out[row] = b.i == INT_MAX ? -INFINITY : b.v;
    res.num_top = 0;
    if (!(r.temperature > 0.0 && needs_sorted_draw(r, vocab))) {
      const int32_t id = b.i == INT_MAX ? 0 : b.i;
      res.id = id;
      res.logprob = r.want_logprob ? x[id] - lse : 0.f;
    }
  }
  const int32_t num_top = r.num_logprobs > 0 ? __ldcg(&p->num_top) : 0;
  int taken = 0;  // this lane's entries already merged (its list is sorted)
  for (int t = 0; t < r.num_logprobs; ++t) {
    const ArgBest head = taken < num_top ? load_best(&p->top[taken]) : ArgBest{-INFINITY, INT_MAX};
    const ArgBest w = warp_best(head);
    if (w.i == INT_MAX) break;
    if (head.i == w.i) ++taken;
    if (lane == 0) {
      res.top_ids[t] = w.i;
      res.top_logprobs[t] = w.v - lse;
      res.num_top = t + 1;
    }
  }
}

constexpr size_t kFewRows = 64;  // see CudaSampler::sample

class CudaSampler final : public DeviceSampler {
 public:
  explicit CudaSampler(cudaStream_t stream) : stream_(stream) {
    const auto flag = [](const char* name) {
      const char* v = std::getenv(name);
      return v && *v && *v != '0';
    };
    pinned_ = !flag("DS_SAMPLER_PAGEABLE");
    full_sort_only_ = flag("DS_SAMPLER_FULL_SORT");
    plain_greedy_ = !flag("DS_SAMPLER_NO_PLAIN");
    CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming));
  }
  ~CudaSampler() override {
    if (counts_.candidates + counts_.full_sorts > 0)
      std::fprintf(stderr, "device sampler: %lld top-k/top-p/min-p draws from the candidates, %lld by the full sort\n",
                   static_cast<long long>(counts_.candidates), static_cast<long long>(counts_.full_sorts));
    for (void* p : {meta_, results_, sort_, parts_, counters_, candidates_}) cudaFree(p);
    cudaFreeHost(host_up_);
    cudaFreeHost(host_results_);
    cudaEventDestroy(uploaded_);
    cudaStreamDestroy(copy_stream_);
  }

  void sample(const Tensor& logits, const SampleBatch& b, std::vector<SampleResult>& out) override {
    const size_t n = b.rows.size();
    out.resize(n);
    if (n == 0) return;
    DS_CHECK(logits.dtype == DType::kF32 && logits.ndim == 2) << "sampling wants float32 [rows, vocab] logits";
    const int64_t vocab = logits.dim(1);
    DS_CHECK(vocab > 0 && vocab < (int64_t(1) << 31)) << "vocab " << vocab;
    std::vector<int32_t> sorted, full;  // candidate draw first, then the rows only the full sort draws
    bool plain = plain_greedy_;  // every row greedy, no logprobs, no adjusted tokens
    for (size_t j = 0; j < n; ++j) {
      const SampleRow& r = b.rows[j];
      plain = plain && r.temperature <= 0.0 && !r.want_logprob && r.num_logprobs == 0 && r.adj_begin == r.adj_end;
      DS_CHECK(r.logits_row >= 0 && r.logits_row < logits.dim(0)) << "logits row " << r.logits_row;
      DS_CHECK(r.num_logprobs >= 0 && r.num_logprobs <= kMaxSampleLogprobs) << r.num_logprobs;
      DS_CHECK(r.adj_begin >= 0 && r.adj_begin <= r.adj_end && size_t(r.adj_end) <= b.adjustments.size());
      for (int32_t k = r.adj_begin; k < r.adj_end; ++k) {
        const int32_t t = b.adjustments[size_t(k)].token;
        DS_CHECK(t >= 0 && t < vocab && (k == r.adj_begin || b.adjustments[size_t(k - 1)].token < t))
            << "adjustments must be distinct in-vocabulary tokens sorted by id";
      }
      if (!needs_sorted_draw(r, vocab)) continue;
      const bool past = r.top_k > kCandidateCap && r.top_k < vocab;  // its top-k mass needs the whole order
      (full_sort_only_ || past ? full : sorted).push_back(int32_t(j));
    }
    const size_t num_candidate = sorted.size();
    sorted.insert(sorted.end(), full.begin(), full.end());
    // One upload: rows | adjustments | sorted row indices.
    const size_t rows_bytes = align16(n * sizeof(SampleRow));
    const size_t adj_bytes = align16(b.adjustments.size() * sizeof(LogitAdjustment));
    const size_t total = rows_bytes + adj_bytes + sorted.size() * sizeof(int32_t);
    uint8_t* up = staging_for(total);
    std::memset(up, 0, total);
    std::memcpy(up, b.rows.data(), n * sizeof(SampleRow));
    if (!b.adjustments.empty())
      std::memcpy(up + rows_bytes, b.adjustments.data(), b.adjustments.size() * sizeof(LogitAdjustment));
    if (!sorted.empty()) std::memcpy(up + rows_bytes + adj_bytes, sorted.data(), sorted.size() * 4);
    grow_rows(n, total);
    uint8_t* meta = static_cast<uint8_t*>(meta_);
    // Page-locked: uploaded on the copy stream, which the forward on stream_ does not hold up; the
    // previous call ended synchronized, so meta_ and the staging buffer are free.
    cudaStream_t up_stream = pinned_ ? copy_stream_ : stream_;
    CUDA_CHECK(cudaMemcpyAsync(meta, up, total, cudaMemcpyHostToDevice, up_stream));
    if (pinned_) {
      CUDA_CHECK(cudaEventRecord(uploaded_, copy_stream_));
      CUDA_CHECK(cudaStreamWaitEvent(stream_, uploaded_, 0));
    }
    const auto* d_rows = reinterpret_cast<const SampleRow*>(meta);
    const auto* d_adj = reinterpret_cast<const LogitAdjustment*>(meta + rows_bytes);
    auto* d_sorted = reinterpret_cast<int32_t*>(meta + rows_bytes + adj_bytes);
    float* d_lse = reinterpret_cast<float*>(meta + align16(total));
    float* d_top = d_lse + n;
    // A few rows (a decode step's turnaround): the kernels write the results into mapped host
    // memory, no copy after them, and each thread has 4 loads in flight; many rows: the results are
    // copied after the kernels (sparse writes across PCIe cost more there), one load per thread at a
    // time (64 registers: 4 blocks per SM). H200, bench_cuda_ops sampling, greedy: 1 row 21-24 us
    // against 25 before; 256 rows 171 us (mapped: 254), 1,024 rows 605 (4 loads: 707; session 17,
    // after the cheaper log-sum-exp: 2 loads 506 against 1 load 511, not kept). A batch of plain greedy
    // rows (no logprobs, no adjusted tokens) takes the plain kernel at any size: 40 registers, 6 blocks
    // of 4 loads per thread per SM (the general kernel: 64 registers, 4 blocks of 1 load).
    const bool few = n <= kFewRows;
    const bool mapped = pinned_ && few;
    if (pinned_) grow_host(reinterpret_cast<void**>(&host_results_), &host_results_bytes_, n * sizeof(SampleResult));
    SampleResult* d_results = static_cast<SampleResult*>(results_);
    if (mapped) CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&d_results), host_results_, 0));
    const float* x = static_cast<const float*>(logits.data);

    auto* d_parts = static_cast<Partial*>(parts_);
    const int64_t len = ((vocab + 3) / 4 + kSplits - 1) / kSplits * 4;
    const size_t smem = size_t(adjusted_bitmap_words(len)) * 4;
    const auto kernel = plain ? sample_plain_kernel : few ? sample_partial_kernel<4> : sample_partial_kernel<1>;
    kernel<<<dim3(kSplits, unsigned(n)), kPartThreads, plain ? 0 : smem, stream_>>>(
        x, vocab, d_rows, d_adj, d_parts, static_cast<int32_t*>(counters_), d_results, d_lse, d_top);
    CUDA_CHECK_LAUNCH();
    if (num_candidate > 0) {
      grow_candidates(num_candidate);
      launch_candidate_draw(x, vocab, int(num_candidate), d_rows, d_adj, d_sorted, d_top, d_lse, d_results,
                            candidates_, stream_);
    }
    const auto full_sort = [&](const int32_t* d_list, size_t count) {
      for (size_t c0 = 0; c0 < count; c0 += kSortChunk) {
        const int chunk = int(std::min<size_t>(kSortChunk, count - c0));
        grow_sort(size_t(chunk) * size_t(vocab));
        launch_sorted_draw(x, vocab, chunk, d_rows, d_adj, d_list + c0, d_lse, d_results, sort_, stream_);
      }
    };
    full_sort(d_sorted + num_candidate, full.size());
    finish(d_results, mapped, out);
    // The rows the candidates could not decide (id -1): the full sort, after a second wait. Rare
    // with a trained model's peaked distributions; every row of a flat one.
    std::vector<int32_t> undecided;
    for (size_t c = 0; c < num_candidate; ++c)
      if (out[size_t(sorted[c])].id < 0) undecided.push_back(sorted[c]);
    counts_.candidates += int64_t(num_candidate - undecided.size());
    counts_.full_sorts += int64_t(full.size() + undecided.size());
    if (undecided.empty()) return;
    // Their indices over the candidate list's (every kernel that read it has finished).
    CUDA_CHECK(cudaMemcpyAsync(d_sorted, undecided.data(), undecided.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                               stream_));
    full_sort(d_sorted, undecided.size());
    finish(d_results, mapped, out);
  }

  SortedDrawCounts sorted_draw_counts() const override { return counts_; }

  void reserve(int32_t max_rows, int64_t vocab) override {
    if (max_rows <= 0 || vocab <= 0) return;
    const size_t n = size_t(max_rows);
    // Upper bounds of sample()'s own sizes: every row with the maximum of adjustments is not
    // knowable, so the metadata is sized for rows + sorted indices + lse (adjustments grow later:
    // a few bytes per token of a request's history).
    grow_rows(n, align16(n * sizeof(SampleRow)) + n * sizeof(int32_t));
    if (pinned_) {
      grow_host(reinterpret_cast<void**>(&host_up_), &host_up_bytes_, align16(n * sizeof(SampleRow)) + n * sizeof(int32_t));
      grow_host(reinterpret_cast<void**>(&host_results_), &host_results_bytes_, n * sizeof(SampleResult));
    }
    grow_sort(size_t(std::min<size_t>(kSortChunk, n)) * size_t(vocab));
    grow_candidates(n);
  }

 private:
  // The results on the host: from the mapped buffer (the kernels wrote them there) or copied.
  void finish(const SampleResult* d_results, bool mapped, std::vector<SampleResult>& out) {
    const size_t n = out.size();
    if (pinned_) {
      if (!mapped)
        CUDA_CHECK(cudaMemcpyAsync(host_results_, d_results, n * sizeof(SampleResult), cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaStreamSynchronize(stream_));
      std::memcpy(out.data(), host_results_, n * sizeof(SampleResult));
    } else {
      CUDA_CHECK(cudaMemcpyAsync(out.data(), d_results, n * sizeof(SampleResult), cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
  }

  static size_t align16(size_t b) { return (b + 15) / 16 * 16; }
  // Page-locked, mapped host memory: the step's upload is copied by the DMA engine straight from
  // it (a pageable buffer goes through the driver's own staging copy), the results are written
  // into it by the kernels. Grown only between calls: each call ends with the stream synchronized,
  // so no copy or kernel still uses the old buffer.
  static void grow_host(void** p, size_t* have, size_t need) {
    if (need <= *have) return;
    if (*p) CUDA_CHECK(cudaFreeHost(*p));
    CUDA_CHECK(cudaHostAlloc(p, need, cudaHostAllocMapped));
    *have = need;
  }
  // The upload's host buffer (DS_SAMPLER_PAGEABLE=1: a std::vector, for A/B runs).
  uint8_t* staging_for(size_t bytes) {
    if (!pinned_) {
      staging_.resize(bytes);
      return staging_.data();
    }
    grow_host(reinterpret_cast<void**>(&host_up_), &host_up_bytes_, std::max<size_t>(bytes, 1));
    return host_up_;
  }
  void grow(void** p, size_t* have, size_t need) {
    if (need <= *have) return;
    if (*p) CUDA_CHECK(cudaFree(*p));  // synchronizes: no kernel still uses it
    CUDA_CHECK(cudaMalloc(p, need));
    *have = need;
  }

  // The per-row buffers of n rows whose upload (rows | adjustments | sorted row indices) is `upload`
  // bytes: the upload plus a log-sum-exp and a maximum per row, the results, the split partial states.
  void grow_rows(size_t n, size_t upload) {
    grow(&meta_, &meta_bytes_, align16(upload) + 2 * n * sizeof(float));
    grow(&results_, &results_bytes_, n * sizeof(SampleResult));
    grow(&parts_, &parts_bytes_, n * kSplits * sizeof(Partial));
    if (n * sizeof(int32_t) > counters_bytes_) {  // zeroed once; every launch leaves them zero
      grow(&counters_, &counters_bytes_, n * sizeof(int32_t));
      CUDA_CHECK(cudaMemsetAsync(counters_, 0, counters_bytes_, stream_));
    }
  }

  // The sorted draw's workspace for `items` keys (sorted_draw.h).
  void grow_sort(size_t items) { grow(&sort_, &sort_bytes_, sorted_draw_workspace_bytes(items, stream_)); }
  // The candidate draw's per-row state, zeroed when allocated (its kernels leave the counters at zero).
  void grow_candidates(size_t rows) {
    const size_t have = candidates_bytes_;
    grow(&candidates_, &candidates_bytes_, candidate_draw_workspace_bytes(rows));
    if (candidates_bytes_ != have) CUDA_CHECK(cudaMemsetAsync(candidates_, 0, candidates_bytes_, stream_));
  }

  cudaStream_t stream_;
  bool pinned_ = true;
  bool full_sort_only_ = false;  // DS_SAMPLER_FULL_SORT=1: no candidate draw (A/B runs)
  bool plain_greedy_ = true;      // DS_SAMPLER_NO_PLAIN=1: no sample_plain_kernel (A/B runs)
  SortedDrawCounts counts_;
  std::vector<uint8_t> staging_;
  uint8_t* host_up_ = nullptr;
  size_t host_up_bytes_ = 0;
  SampleResult* host_results_ = nullptr;
  size_t host_results_bytes_ = 0;
  void* meta_ = nullptr;
  size_t meta_bytes_ = 0;
  void* results_ = nullptr;
  size_t results_bytes_ = 0;
  void* sort_ = nullptr;
  size_t sort_bytes_ = 0;
  void* parts_ = nullptr;
  size_t parts_bytes_ = 0;
  void* counters_ = nullptr;  // per row: slices done (sample_partial_kernel)
  size_t counters_bytes_ = 0;
  void* candidates_ = nullptr;  // candidate_draw.h
  size_t candidates_bytes_ = 0;
  cudaStream_t copy_stream_ = nullptr;  // the metadata upload
  cudaEvent_t uploaded_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceSampler> make_cuda_sampler(cudaStream_t stream) { return std::make_unique<CudaSampler>(stream); }

}  // namespace ds::cuda
