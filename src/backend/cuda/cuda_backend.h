#pragma once
// The CUDA backend's factory. No CUDA header is included here, so code above the backend boundary
// (runtime, engine, app) can name it; only src/backend/cuda includes CUDA headers.
// Activations, KV cache and matmul weights are bfloat16 on this backend (fp32 accumulation).
#include <memory>

#include "backend/backend.h"

namespace ds {

struct CudaBackendOptions {
  int device = 0;                          // CUDA device ordinal
  size_t matmul_workspace_bytes = 32 << 20;  // cuBLASLt workspace (Hopper kernels want >= 32 MiB)
  // --batch-invariant: a sequence's logits are bit-identical whatever else is in the batch (one
  // matmul kernel for every row count, attention without split-KV). Slower, for reproducibility.
  bool batch_invariant = false;
};

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& opts);
// CUDA devices usable by this process (0 when there is no driver or no GPU): lets callers turn
// "no GPU" into a user-facing error instead of make_cuda_backend's abort.
int cuda_device_count();

}  // namespace ds
