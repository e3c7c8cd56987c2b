#include "backend/cuda/cublaslt_matmul.h"

#include <algorithm>
#include <cstdio>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/row_bucket.h"

namespace ds::cuda {
namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    case DType::kF32: return CUDA_R_32F;
    default: DS_CHECK(false) << "matmul dtype " << dtype_name(t);
  }
  return CUDA_R_32F;
}

int pointer_alignment(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && v % uintptr_t(a) != 0) a /= 2;
  return a;
}

}  // namespace

// Plans of >= 4,096 rows are prefill-sized: the start-up profiling forward (at
// max_num_batched_tokens) makes the first of each shape. Tuning every new bucket at once from 128
// rows cost more than it saved in a 21 s offline run (H200: 133 plans, 11,659 vs 12,309 tok/s), and
// so did the one 4,608-row step of that run (~85 ms of trials for ~9 ms saved): hence MatmulTuning.
constexpr int kTuneCandidates = 8;
constexpr int64_t kTuneMinRows = 4096;

CublasLtMatmul::CublasLtMatmul(void* workspace, size_t workspace_bytes, MatmulTuning tuning)
    : workspace_(workspace), workspace_bytes_(workspace_bytes), tuning_(tuning) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
}

CublasLtMatmul::~CublasLtMatmul() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  cublasLtDestroy(handle_);
}

// cuBLASLt is column-major. Row-major out[T, N] is column-major D = out^T [N, T] (ld N), and
// D = op(A) * B with A = w viewed column-major [K, N] (ld K) transposed, and B = x viewed column-major
// [K, T] (ld K). So m = N, n = T, k = K, and the bias (length m = N) broadcasts over tokens.
CublasLtMatmul::Plan CublasLtMatmul::make_plan(const Key& key) {
  const auto [t, n, k, out_dt, bias_dt, align] = key;
  Plan p;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof(op_n)));
  if (bias_dt >= 0) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const cudaDataType_t bt = cuda_type(DType(bias_dt));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
  }
  const cudaDataType_t dt = cuda_type(DType(out_dt));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(k), uint64_t(n), k));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(k), uint64_t(t), k));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, dt, uint64_t(n), uint64_t(t), n));

  cublasLtMatmulPreference_t pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes_;
  const uint32_t al = uint32_t(align);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &al, sizeof(al)));
  // When it is tuned (MatmulTuning): its first call, its after_calls-th, or never.
  const bool large = t >= kTuneMinRows;
  if (tuning_.enabled && tuning_.every_large_plan_at_once) p.tune_at = large ? 1 : 0;
  else if (tuning_.enabled && large && tuned_at_once_.insert({n, k, out_dt, bias_dt, align}).second) p.tune_at = 1;
  else if (tuning_.enabled) p.tune_at = tuning_.after_calls;
  cublasLtMatmulHeuristicResult_t results[kTuneCandidates]{};
  int found = 0;
  CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref,
                                              p.tune_at > 0 ? kTuneCandidates : 1, results, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  DS_CHECK(found > 0) << "cuBLASLt has no algorithm for T=" << t << " N=" << n << " K=" << k << " out "
                      << dtype_name(DType(out_dt)) << " bias " << bias_dt << " alignment " << align;
  p.algo = results[0].algo;
  for (int i = 1; i < found; ++i) p.candidates.push_back(results[i].algo);
  p.rows = t;
  return p;
}

void CublasLtMatmul::run(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, cudaStream_t stream,
                         bool accumulate, void* tune_out) {
  DS_CHECK(x.dtype == DType::kBF16 && w.dtype == DType::kBF16) << "cuda matmul wants bf16 x and w, got "
                                                                 << dtype_name(x.dtype) << " " << dtype_name(w.dtype);
  const int64_t t = x.dim(0), k = x.dim(1), n = w.dim(0);
  DS_CHECK_EQ(k, w.dim(1));
  DS_CHECK(out.dim(0) == t && out.dim(1) == n) << out.shape_str() << " vs " << x.shape_str() << w.shape_str();
  if (bias.defined()) {
    DS_CHECK_EQ(bias.numel(), n);
  }
  if (t == 0 || n == 0) return;
  const int align = std::min({pointer_alignment(x.data), pointer_alignment(w.data), pointer_alignment(out.data),
                              bias.defined() ? pointer_alignment(bias.data) : 256});
  const Key key{row_bucket(t), n, k, int(out.dtype), bias.defined() ? int(bias.dtype) : -1, align};
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, make_plan(key)).first;
  Plan& p = it->second;
  ++p.calls;
  if (p.rows != t) {  // the bucket's algorithm, the layouts of this call's row count
    const uint64_t cols = uint64_t(t);
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(p.b, CUBLASLT_MATRIX_LAYOUT_COLS, &cols, sizeof(cols)));
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(p.c, CUBLASLT_MATRIX_LAYOUT_COLS, &cols, sizeof(cols)));
    p.rows = t;
  }
  if (bias.defined()) {
    const void* bp = bias.data;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
  }
  // Tuning overwrites its output: an accumulating call's trials go to tune_out (without one the plan
  // keeps the heuristic's choice), with beta = 1 as the call. A call that cannot tune (capturing, or
  // accumulating without tune_out) leaves the candidates for the plan's next call.
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  if (p.tune_at > 0 && p.calls >= p.tune_at && !p.candidates.empty() && (!accumulate || tune_out))
    tune(p, key, w.data, x.data, accumulate ? tune_out : out.data, beta, stream);
  CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w.data, p.a, x.data, p.b, &beta, out.data, p.c, out.data, p.c,
                              &p.algo, workspace_, workspace_bytes_, stream));
}

// Times the heuristic's choice and each candidate (one warm-up, then 3 calls) on this call's
// operands (into out: the call's own output, overwritten by the real call after, or an accumulating
// call's spare buffer, read as C with beta = 1) and keeps the fastest. Not while capturing (a graph
// records the plan's algorithm of that moment; a later tuning changes eager calls only).
void CublasLtMatmul::tune(Plan& p, const Key& key, const void* w, const void* x, void* out, float beta,
                          cudaStream_t stream) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream, &st));
  if (st != cudaStreamCaptureStatusNone) return;
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  const float alpha = 1.f;
  auto time_algo = [&](const cublasLtMatmulAlgo_t& algo) {
    auto call = [&] {
      return cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.c, out, p.c, &algo, workspace_,
                            workspace_bytes_, stream);
    };
    if (call() != CUBLAS_STATUS_SUCCESS) return 1e30f;
    CUDA_CHECK(cudaEventRecord(e0, stream));
    for (int i = 0; i < 3; ++i) call();
    CUDA_CHECK(cudaEventRecord(e1, stream));
    CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    return ms / 3;
  };
  const float first = time_algo(p.algo);
  float best = first;
  int pick = 0;
  for (size_t i = 0; i < p.candidates.size(); ++i) {
    const float ms = time_algo(p.candidates[i]);
    if (ms < best) best = ms, pick = int(i) + 1;
  }
  if (pick > 0) p.algo = p.candidates[size_t(pick - 1)];
  p.candidates.clear();
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (tuning_.verbose)
    std::fprintf(stderr,
                 "matmul tune T<=%lld N=%lld K=%lld at call %lld: heuristic %.1f us, best %.1f us (candidate %d)\n",
                 (long long)std::get<0>(key), (long long)std::get<1>(key), (long long)std::get<2>(key),
                 (long long)p.calls, 1e3 * first, 1e3 * best, pick);
}

}  // namespace ds::cuda
