// Sustained bf16 GEMM rates of cuBLASLt's candidate algorithms at the offline run's shapes
// (R1-Distill-Qwen-7B: 16,384-token mixed steps and ~1,000-row decode steps), each algorithm run
// back to back long enough for the card to settle at its power limit, next to the short cold timing
// the backend's tuner uses (one warm-up + 3 calls). The question it answers: under the power cap of
// a long compute-bound run, is the tuner's pick still the fastest? Also the device copy bandwidth
// idle and right after a GEMM burst (does the power-capped clock cost memory bandwidth too?).
// Usage: bench_gemm_sustained [SECONDS_PER_ALGO (default 0.6)] [CANDIDATES (default 8)] [SHAPE_FILTER]
// (SHAPE_FILTER: only the shapes whose name contains it, e.g. "qkv")
// Output: one line per (shape, algorithm): its config (cuBLASLt ids), cold and sustained TFLOP/s.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

#define CK(x)                                                                                   \
  do {                                                                                          \
    auto e_ = (x);                                                                              \
    if (int(e_) != 0) {                                                                         \
      std::fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, int(e_));         \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

__global__ void fill_bf16(uint16_t* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint64_t s = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    s ^= s >> 31, s *= 0xBF58476D1CE4E5B9ull, s ^= s >> 29;
    const float v = float(int32_t(s >> 40) - (1 << 23)) / float(1 << 23);  // [-1, 1)
    p[i] = uint16_t(__float_as_uint(v) >> 16);
  }
}

struct Shape {
  const char* name;
  int64_t t, n, k;
  bool f32_accumulate;  // out fp32 with beta = 1 (the residual stream), else bf16 out
  bool bias = false;    // bf16 bias in the epilogue (Qwen2's q/k/v)
};

struct Gemm {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t a, b, c;
  void *w, *x, *out, *ws;
  size_t ws_bytes;
  float beta;
  cublasStatus_t call(const cublasLtMatmulAlgo_t& algo, cudaStream_t s) const {
    const float alpha = 1.f;
    return cublasLtMatmul(h, desc, &alpha, w, a, x, b, &beta, out, c, out, c, &algo, ws, ws_bytes, s);
  }
};

// Seconds per call over `calls` calls (events).
double time_calls(const Gemm& g, const cublasLtMatmulAlgo_t& algo, int calls, cudaStream_t s, cudaEvent_t e0,
                  cudaEvent_t e1) {
  CK(cudaEventRecord(e0, s));
  for (int i = 0; i < calls; ++i) CK(g.call(algo, s));
  CK(cudaEventRecord(e1, s));
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  return ms / 1e3 / calls;
}

uint32_t cfg(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr) {
  uint32_t v = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof v, &written);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const double per_algo = argc > 1 ? std::atof(argv[1]) : 0.6;
  const int max_cand = std::clamp(argc > 2 ? std::atoi(argv[2]) : 8, 1, 16);
  const std::string filter = argc > 3 ? argv[3] : "";
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("card: %s\n", prop.name);

  const Shape shapes[] = {
      {"gate_up T=16384", 16384, 37888, 3584, false}, {"down T=16384 (+=, f32)", 16384, 3584, 18944, true},
      {"qkv T=16384", 16384, 4608, 3584, false},       {"qkv T=16384 +bias", 16384, 4608, 3584, false, true},
      {"o_proj T=16384 (+=, f32)", 16384, 3584, 3584, true},
      {"gate_up T=1024", 1024, 37888, 3584, false},   {"down T=1024 (+=, f32)", 1024, 3584, 18944, true},
      {"qkv T=1024", 1024, 4608, 3584, false},         {"qkv T=1024 +bias", 1024, 4608, 3584, false, true},
      {"o_proj T=1024 (+=, f32)", 1024, 3584, 3584, true},
  };
  size_t wmax = 0, xmax = 0, omax = 0;
  for (const Shape& sh : shapes) {
    wmax = std::max(wmax, size_t(sh.n * sh.k));
    xmax = std::max(xmax, size_t(sh.t * sh.k));
    omax = std::max(omax, size_t(sh.t * sh.n) * (sh.f32_accumulate ? 4 : 2));
  }
  Gemm g{};
  CK(cublasLtCreate(&g.h));
  CK(cudaMalloc(&g.w, wmax * 2));
  CK(cudaMalloc(&g.x, xmax * 2));
  CK(cudaMalloc(&g.out, omax));
  g.ws_bytes = 32 << 20;
  CK(cudaMalloc(&g.ws, g.ws_bytes));
  fill_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(g.w), wmax, 1);
  fill_bf16<<<1024, 256, 0, s>>>(static_cast<uint16_t*>(g.x), xmax, 2);
  CK(cudaMemsetAsync(g.out, 0, omax, s));
  CK(cudaStreamSynchronize(s));

  // Copy bandwidth, idle then hot (after 2 s of the first shape's GEMM), 2 GiB buffers.
  const size_t cb = size_t(2) << 30;
  void *src, *dst;
  CK(cudaMalloc(&src, cb));
  CK(cudaMalloc(&dst, cb));
  CK(cudaMemsetAsync(src, 0x5a, cb, s));
  auto copy_bw = [&] {
    CK(cudaEventRecord(e0, s));
    for (int i = 0; i < 5; ++i) CK(cudaMemcpyAsync(dst, src, cb, cudaMemcpyDeviceToDevice, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    return 2.0 * 5 * double(cb) / (ms / 1e3) / 1e9;
  };
  copy_bw();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double bw_idle = copy_bw();

  bool heated = false;
  for (const Shape& sh : shapes) {
    if (!filter.empty() && std::string(sh.name).find(filter) == std::string::npos) continue;
    CK(cublasLtMatmulDescCreate(&g.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t));
    CK(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n));
    if (sh.bias) {
      const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      const cudaDataType_t bt = CUDA_R_16BF;
      CK(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
      CK(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
      const void* bp = g.x;  // any bf16 vector of n values
      CK(cublasLtMatmulDescSetAttribute(g.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
    }
    CK(cublasLtMatrixLayoutCreate(&g.a, CUDA_R_16BF, uint64_t(sh.k), uint64_t(sh.n), sh.k));
    CK(cublasLtMatrixLayoutCreate(&g.b, CUDA_R_16BF, uint64_t(sh.k), uint64_t(sh.t), sh.k));
    CK(cublasLtMatrixLayoutCreate(&g.c, sh.f32_accumulate ? CUDA_R_32F : CUDA_R_16BF, uint64_t(sh.n), uint64_t(sh.t),
                                  sh.n));
    g.beta = sh.f32_accumulate ? 1.f : 0.f;
    cublasLtMatmulPreference_t pref;
    CK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t wsb = g.ws_bytes;
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
    cublasLtMatmulHeuristicResult_t res[16]{};
    int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(g.h, g.desc, g.a, g.b, g.c, g.c, pref, max_cand, res, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    const double flops = 2.0 * double(sh.t) * double(sh.n) * double(sh.k);
    if (!heated) {  // heat the card, then the hot copy bandwidth
      heated = true;
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) time_calls(g, res[0].algo, 10, s, e0, e1);
      std::printf("copy bandwidth: idle %.0f GB/s, right after 2 s of GEMM %.0f GB/s\n\n", bw_idle, copy_bw());
      std::printf("%-26s %4s %5s %5s %6s %6s %6s %7s %7s %10s %10s\n", "shape", "cand", "algo", "tile", "stages",
                  "splitK", "swizz", "cluster", "inner", "cold TF/s", "hot TF/s");
    }
    for (int i = 0; i < found; ++i) {
      const cublasLtMatmulAlgo_t& algo = res[i].algo;
      if (g.call(algo, s) != CUBLAS_STATUS_SUCCESS) continue;
      // Cold: as the tuner (after a pause, one warm-up + 3 calls).
      CK(cudaStreamSynchronize(s));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      CK(g.call(algo, s));
      const double cold = time_calls(g, algo, 3, s, e0, e1);
      // Sustained: back to back for per_algo seconds, the second half timed.
      const int calls = std::max(3, int(per_algo / 2 / cold));
      time_calls(g, algo, calls, s, e0, e1);
      const double hot = time_calls(g, algo, calls, s, e0, e1);
      std::printf("%-26s %4d %5u %5u %6u %6u %6u %7u %7u %10.1f %10.1f\n", sh.name, i, cfg(algo, CUBLASLT_ALGO_CONFIG_ID),
                  cfg(algo, CUBLASLT_ALGO_CONFIG_TILE_ID), cfg(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID),
                  cfg(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM), cfg(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
                  cfg(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID), cfg(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID),
                  flops / cold / 1e12, flops / hot / 1e12);
      std::fflush(stdout);
    }
    cublasLtMatrixLayoutDestroy(g.a);
    cublasLtMatrixLayoutDestroy(g.b);
    cublasLtMatrixLayoutDestroy(g.c);
    cublasLtMatmulDescDestroy(g.desc);
  }
  return 0;
}
