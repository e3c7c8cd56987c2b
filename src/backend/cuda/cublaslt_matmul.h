#pragma once
// out[T, N] = x[T, K] @ w[N, K]^T (+ bias[N]) through cuBLASLt: bf16 operands, fp32 accumulation,
// bf16 or fp32 output, bias added in the GEMM epilogue. Plans (descriptors + the heuristic's
// algorithm) are cached per (row bucket, N, K, dtypes, pointer alignment), so a steady-state call only
// sets pointers and the row count. Row counts are bucketed (exact up to 64, then 8 buckets per
// doubling, the plan made for the bucket's largest count): a continuous-batching step has a new
// token count almost every time, and a heuristic query per new count was host time the device
// waited for, with a plan map that grew without bound. Prefill-sized plans are tuned on first use
// (the heuristic's first choice is not always its fastest; see the constructor). CPU reference:
// cpu::matmul.
// Not batch-invariant yet: the heuristic may pick different kernels (split-K) for different T.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "core/tensor.h"

namespace ds::cuda {

class CublasLtMatmul {
 public:
  // tune: a new plan of >= kTuneMinRows rows (prefill-sized) times the heuristic's first
  // kTuneCandidates algorithms on its first call's operands and keeps the fastest (H200,
  // bench/results/cuda_h200_session8.md: 3-9% faster q|k|v, o_proj and gate|up matmuls at 16,384 rows).
  // verbose: one stderr line per tuned plan (both times).
  CublasLtMatmul(void* workspace, size_t workspace_bytes, bool tune = true, bool verbose = false);
  ~CublasLtMatmul();
  CublasLtMatmul(const CublasLtMatmul&) = delete;
  CublasLtMatmul& operator=(const CublasLtMatmul&) = delete;

  // accumulate: out += x @ w^T (+ bias) (beta = 1, out read as C: the fp32 residual stream).
  // tune_out: a buffer of out's shape and dtype that a new plan's tuning may overwrite (accumulating
  // calls tune only with one: their out must not be written by the trials).
  void run(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, cudaStream_t stream,
           bool accumulate = false, void* tune_out = nullptr);

 private:
  // (T bucket, N, K, out dtype, bias dtype or -1, min pointer alignment)
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int>;
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    int64_t rows = 0;  // the row count the b and c layouts describe now
    std::vector<cublasLtMatmulAlgo_t> candidates;  // tuning: the heuristic's next choices
  };
  Plan make_plan(const Key& key);
  void tune(Plan& p, const Key& key, const void* w, const void* x, void* out, float beta, cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  size_t workspace_bytes_;
  std::map<Key, Plan> plans_;
  bool tune_ = true, verbose_ = false;
};

}  // namespace ds::cuda
