// Row gather (the rows whose logits are needed): one block per output row, copying in the widest
// word the row size and alignment allow. CPU reference: CpuOps::gather_rows.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"

namespace ds::cuda {
namespace {

// x [*, row_words], out [n_rows, row_words] of Word.
template <class Word>
__global__ void gather_rows_kernel(const Word* __restrict__ x, int64_t row_words, const int32_t* __restrict__ rows,
                                   Word* __restrict__ out) {
  const int64_t i = blockIdx.x;
  const Word* src = x + int64_t(rows[i]) * row_words;
  for (int64_t j = threadIdx.x; j < row_words; j += blockDim.x) out[i * row_words + j] = src[j];
}

template <class Word>
void launch(const void* x, size_t row_bytes, const int32_t* rows, int64_t n_rows, void* out, cudaStream_t stream) {
  gather_rows_kernel<Word><<<unsigned(n_rows), 128, 0, stream>>>(static_cast<const Word*>(x),
                                                                 int64_t(row_bytes / sizeof(Word)), rows,
                                                                 static_cast<Word*>(out));
}

}  // namespace

void launch_gather_rows(const void* x, size_t row_bytes, const int32_t* rows, int64_t n_rows, void* out,
                        cudaStream_t stream) {
  if (n_rows == 0 || row_bytes == 0) return;
  const uintptr_t align = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) | row_bytes;
  if (align % 16 == 0) {
    launch<uint4>(x, row_bytes, rows, n_rows, out, stream);
  } else if (align % 4 == 0) {
    launch<uint32_t>(x, row_bytes, rows, n_rows, out, stream);
  } else if (align % 2 == 0) {
    launch<uint16_t>(x, row_bytes, rows, n_rows, out, stream);
  } else {
    launch<uint8_t>(x, row_bytes, rows, n_rows, out, stream);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace ds::cuda
