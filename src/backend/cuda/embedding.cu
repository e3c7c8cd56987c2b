// Embedding lookup: one block per token copies its table row, widening/narrowing to bf16.
// CPU reference: CpuOps::embedding.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"

namespace ds::cuda {
namespace {

__device__ __forceinline__ void store(bf16* p, float v) { *p = __float2bfloat16(v); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }

template <class T, class O>
__global__ void embedding_kernel(const T* __restrict__ table, int64_t vocab, int64_t h,
                                 const int32_t* __restrict__ ids, O* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  O* o = out + t * h;
  if (id < 0 || id >= vocab) {
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) store(o + i, 0.f);
    return;
  }
  const T* row = table + int64_t(id) * h;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) store(o + i, to_f32(row[i]));
}

template <class O>
void launch_typed(const void* table, DType table_dtype, int64_t vocab, int64_t h, const int32_t* ids, int64_t t,
                  O* out, cudaStream_t stream) {
  const dim3 grid{unsigned(t)}, block{256};
  switch (table_dtype) {
    case DType::kBF16:
      embedding_kernel<<<grid, block, 0, stream>>>(static_cast<const bf16*>(table), vocab, h, ids, out);
      break;
    case DType::kF16:
      embedding_kernel<<<grid, block, 0, stream>>>(static_cast<const __half*>(table), vocab, h, ids, out);
      break;
    case DType::kF32:
      embedding_kernel<<<grid, block, 0, stream>>>(static_cast<const float*>(table), vocab, h, ids, out);
      break;
    default: DS_CHECK(false) << "embedding table dtype " << dtype_name(table_dtype);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_embedding(const void* table, DType table_dtype, int64_t vocab, int64_t h, const int32_t* ids,
                      int64_t t, void* out, DType out_dtype, cudaStream_t stream) {
  if (t == 0 || h == 0) return;
  if (out_dtype == DType::kF32)
    launch_typed(table, table_dtype, vocab, h, ids, t, static_cast<float*>(out), stream);
  else
    launch_typed(table, table_dtype, vocab, h, ids, t, static_cast<bf16*>(out), stream);
}

}  // namespace ds::cuda
