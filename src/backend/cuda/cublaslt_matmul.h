#pragma once
// out[T, N] = x[T, K] @ w[N, K]^T (+ bias[N]) through cuBLASLt: bf16 operands, fp32 accumulation,
// bf16 or fp32 output, bias added in the GEMM epilogue. Plans (descriptors + the heuristic's
// algorithm) are cached per (row bucket, N, K, dtypes, pointer alignment), so a steady-state call only
// sets pointers and the row count. Row counts are bucketed (exact up to 64, then 8 buckets per
// doubling, the plan made for the bucket's largest count): a continuous-batching step has a new
// token count almost every time, and a heuristic query per new count was host time the device
// waited for, with a plan map that grew without bound. Plans are tuned (the heuristic's first choice
// is not always its fastest): the start-up profiling forward's at once, the others once they are
// used often enough to repay the trials (MatmulTuning). CPU reference: cpu::matmul.
// Not batch-invariant yet: the heuristic may pick different kernels (split-K) for different T.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "core/tensor.h"

namespace ds::cuda {

// Tuning: one call times the heuristic's first kTuneCandidates algorithms on its operands and the
// plan keeps the fastest (H200, bench/results/cuda_h200_session8.md: 3-9% faster q|k|v, o_proj and gate|up
// matmuls at 16,384 rows; 0-5% at 1,024). The trials cost ~32 calls of the plan, so a plan is tuned
// at its after_calls-th call (a bucket that recurs: the offline run's ~1,000-row decode steps), not
// on first use; a bucket seen in one step (a 4,608-row tail of the prefill) is not worth its trials.
// The exception is the first plan of >= kTuneMinRows rows of each shape (N, K, dtypes, alignment):
// the start-up profiling forward's, at max_num_batched_tokens, tuned at once, off the clock.
struct MatmulTuning {
  bool enabled = true;
  int64_t after_calls = 256;  // 0: only the at-once tuning
  // Every new plan of >= kTuneMinRows rows at once, and no deferred tuning (the form before session
  // 20; DS_MATMUL_TUNE=first, A/B runs).
  bool every_large_plan_at_once = false;
  bool verbose = false;  // one stderr line per tuned plan (both times)
};

class CublasLtMatmul {
 public:
  CublasLtMatmul(void* workspace, size_t workspace_bytes, MatmulTuning tuning = {});
  ~CublasLtMatmul();
  CublasLtMatmul(const CublasLtMatmul&) = delete;
  CublasLtMatmul& operator=(const CublasLtMatmul&) = delete;

  // accumulate: out += x @ w^T (+ bias) (beta = 1, out read as C: the fp32 residual stream).
  // tune_out: a buffer of out's shape and dtype that the plan's tuning may overwrite (accumulating
  // calls tune only with one: their out must not be written by the trials).
  void run(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, cudaStream_t stream,
           bool accumulate = false, void* tune_out = nullptr);

 private:
  // (T bucket, N, K, out dtype, bias dtype or -1, min pointer alignment)
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int>;
  using Shape = std::tuple<int64_t, int64_t, int, int, int>;  // Key without the bucket
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    int64_t rows = 0;  // the row count the b and c layouts describe now
    std::vector<cublasLtMatmulAlgo_t> candidates;  // tuning: the heuristic's next choices
    int64_t calls = 0;
    int64_t tune_at = 0;  // the call that tunes it (0: never)
  };
  Plan make_plan(const Key& key);
  void tune(Plan& p, const Key& key, const void* w, const void* x, void* out, float beta, cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  size_t workspace_bytes_;
  std::map<Key, Plan> plans_;
  std::set<Shape> tuned_at_once_;  // shapes whose first large plan was tuned on first use
  MatmulTuning tuning_;
};

}  // namespace ds::cuda
