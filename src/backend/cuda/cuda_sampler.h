#pragma once
// The CUDA DeviceSampler (backend/sampling.h), kernels in sampling.cu. Owned by the CUDA backend.
#include <cuda_runtime.h>

#include <memory>

#include "backend/sampling.h"

namespace ds::cuda {

std::unique_ptr<DeviceSampler> make_cuda_sampler(cudaStream_t stream);

}  // namespace ds::cuda
