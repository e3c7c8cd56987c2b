// The CUDA Backend: owns the device, one stream, the cuBLASLt workspace and the op table. All state
// lives in this object (no globals). Allocations are cudaMalloc'd and zero-filled; host<->device
// copies are synchronous for the caller (its host buffer may be gone right after the call), except
// copy_to_device_2d_async, whose source is page-locked memory from alloc_host.
// Graphs: run_graph captures the body on the backend's stream (thread-local capture mode) into a
// cudaGraphExec per key and replays it with cudaGraphLaunch; the ops allocate nothing while
// capturing (the attention workspace is sized once up front, cuBLASLt uses the fixed workspace).
#include "backend/cuda/cuda_backend.h"

#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cuda/cublaslt_matmul.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_sampler.h"
#include "backend/cuda/op_profile.h"

#include <cstdlib>
#include <cstring>

namespace ds {
namespace {

class CudaBuffer final : public DeviceBuffer {
 public:
  CudaBuffer(size_t n, cudaStream_t stream) : size_(n) {
    if (n == 0) return;
    CUDA_CHECK(cudaMalloc(&data_, n));
    CUDA_CHECK(cudaMemsetAsync(data_, 0, n, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  ~CudaBuffer() override {
    if (!data_) return;
    const cudaError_t e = cudaFree(data_);
    // At process exit the runtime may already be unloading; nothing is left to free then.
    DS_CHECK(e == cudaSuccess || e == cudaErrorCudartUnloading) << "cudaFree -> " << cudaGetErrorString(e);
  }
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

class PinnedBuffer final : public DeviceBuffer {
 public:
  explicit PinnedBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    CUDA_CHECK(cudaHostAlloc(&data_, n, cudaHostAllocDefault));
    std::memset(data_, 0, n);
  }
  ~PinnedBuffer() override {
    if (data_) cudaFreeHost(data_);
  }
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& o) {
    CUDA_CHECK(cudaSetDevice(o.device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    workspace_ = std::make_unique<CudaBuffer>(o.matmul_workspace_bytes, stream_);
    // DS_MATMUL_TUNE=0: the heuristic's first choice for every plan (A/B); =1: log each tuned plan;
    // =first: every new plan of >= 4,096 rows tuned at once, no other (the form before session 20).
    const std::string tune = std::getenv("DS_MATMUL_TUNE") ? std::getenv("DS_MATMUL_TUNE") : "";
    cuda::MatmulTuning tuning;
    tuning.enabled = tune != "0";
    tuning.verbose = tune == "1";
    tuning.every_large_plan_at_once = tune == "first";
    matmul_ = std::make_unique<cuda::CublasLtMatmul>(workspace_->data(), workspace_->size(), tuning);
    int num_sms = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, o.device));
    ops_ = std::make_unique<cuda::CudaOps>(stream_, *matmul_, num_sms, o.batch_invariant);
    sampler_ = cuda::make_cuda_sampler(stream_);
    const char* prof = std::getenv("DS_OP_PROFILE");
    std::vector<std::string> skip;
    if (const char* s = std::getenv("DS_OP_SKIP"); s && *s) {
      for (std::string_view rest = s; !rest.empty();) {
        const size_t comma = rest.find(',');
        if (const std::string_view op = rest.substr(0, comma); !op.empty()) skip.emplace_back(op);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      std::fprintf(stderr, "DS_OP_SKIP: %zu ops are not run (timing experiments only: outputs are wrong)\n", skip.size());
    }
    if ((prof && *prof && *prof != '0') || !skip.empty()) {
      profile_ = std::make_unique<cuda::OpProfile>(stream_, std::move(skip));
      profiled_ops_ = cuda::make_profiled_ops(*ops_, *profile_);
      profiled_sampler_ = cuda::make_profiled_sampler(*sampler_, *profile_);
    }
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    profiled_sampler_.reset();
    profiled_ops_.reset();
    profile_.reset();  // prints its table
    sampler_.reset();
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
    ops_.reset();
    matmul_.reset();
    workspace_.reset();
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "cuda"; }
  Ops& ops() override { return profiled_ops_ ? *profiled_ops_ : *ops_; }
  std::unique_ptr<DeviceBuffer> alloc(size_t bytes) override { return std::make_unique<CudaBuffer>(bytes, stream_); }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    if (n == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    if (n == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy_on_device(void* dst, const void* src, size_t n) override {
    if (n == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream_));
  }
  void synchronize() override { CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  DType activation_dtype() const override { return DType::kBF16; }
  DeviceSampler* sampler() override { return profiled_sampler_ ? profiled_sampler_.get() : sampler_.get(); }

  MemoryInfo memory_info() const override {
    MemoryInfo m;
    CUDA_CHECK(cudaMemGetInfo(&m.free, &m.total));
    return m;
  }
  std::unique_ptr<DeviceBuffer> alloc_host(size_t bytes) override { return std::make_unique<PinnedBuffer>(bytes); }
  void copy_to_device_2d_async(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width,
                               size_t rows) override {
    if (width == 0 || rows == 0) return;
    CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyHostToDevice, stream_));
  }
  bool supports_graphs() const override { return true; }
  void run_graph(int64_t key, const std::function<void()>& body) override {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      cudaGraph_t graph = nullptr;
      CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      body();
      CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      CUDA_CHECK(cudaGraphDestroy(graph));
      it = graphs_.emplace(key, exec).first;
    }
    CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  }
  void erase_graph(int64_t key) override {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) return;
    CUDA_CHECK(cudaGraphExecDestroy(it->second));
    graphs_.erase(it);
  }
  size_t num_graphs() const override { return graphs_.size(); }

 private:
  std::map<int64_t, cudaGraphExec_t> graphs_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CudaBuffer> workspace_;
  std::unique_ptr<cuda::CublasLtMatmul> matmul_;
  std::unique_ptr<cuda::CudaOps> ops_;
  std::unique_ptr<DeviceSampler> sampler_;
  // DS_OP_PROFILE=1 (or DS_OP_SKIP set): ops() and sampler() time every call (op_profile.h)
  std::unique_ptr<cuda::OpProfile> profile_;
  std::unique_ptr<Ops> profiled_ops_;
  std::unique_ptr<DeviceSampler> profiled_sampler_;
};

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  return n;
}

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& opts) {
  return std::make_unique<CudaBackend>(opts);
}

}  // namespace ds
