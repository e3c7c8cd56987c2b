#pragma once
// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl may start while the
// kernel before it on the stream is still running, and do work that depends on nothing that
// kernel writes (the decode matmuls load their first weight words) before pdl_wait(), which
// returns once the previous kernel has finished and its writes are visible. pdl_trigger() lets
// the next kernel launch early. Rules that keep it correct:
//  - a kernel launched with launch_pdl calls pdl_wait() before it reads anything an earlier kernel
//    wrote and before it writes anything (and before any early return: the grid's completion must
//    imply its predecessor's, which the next kernel's wait relies on);
//  - pdl_trigger() anywhere is only a hint (a no-op unless the next launch is a launch_pdl); every
//    kernel here calls it right after its pdl_wait(), so a kernel that has started implies that all
//    kernels two or more launches before it have completed: data copied in before the forward
//    (positions, slots, block tables) may be read before the wait;
//  - reads before the wait are of data no kernel of the forward writes (weights, such inputs), or
//    that the kernel just before has not written: decode attention reads the cached K/V rows
//    except the tokens' own, which the previous launch (rope_store_kv, or the q/k/v projection with
//    rope and the K/V store in its epilogue) writes.
// Before sm_90 both are no-ops and launch_pdl launches normally; DS_NO_PDL=1 turns it off (A/B runs).
#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_check.h"

namespace ds::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether launch_pdl sets the attribute: compute capability >= 9.0 and DS_NO_PDL unset (queried
// once per process; the process drives one device).
bool pdl_enabled();

// launch_pdl_clustered: the same in thread block clusters of `cluster` blocks (sm_90; the grid a
// multiple of it); a cluster of one block is a plain launch.
template <class... Params, class... Args>
void launch_pdl_clustered(void (*kernel)(Params...), dim3 grid, dim3 cluster, dim3 block, size_t smem,
                          cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (pdl_enabled()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster.x * cluster.y * cluster.z > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster.x, attr[n].val.clusterDim.y = cluster.y, attr[n].val.clusterDim.z = cluster.z;
    ++n;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  launch_pdl_clustered(kernel, grid, dim3{1, 1, 1}, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace ds::cuda
