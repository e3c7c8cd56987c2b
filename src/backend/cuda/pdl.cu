// pdl_enabled: see pdl.cuh.
#include <cstdlib>

#include "backend/cuda/pdl.cuh"

namespace ds::cuda {

bool pdl_enabled() {
  static const bool enabled = [] {
    const char* off = std::getenv("DS_NO_PDL");
    if (off && *off && *off != '0') return false;
    int dev = 0, major = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    return major >= 9;
  }();
  return enabled;
}

}  // namespace ds::cuda
