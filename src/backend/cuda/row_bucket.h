#pragma once
// The row bucket of a cuBLASLt plan (cublaslt_matmul.cpp), in a header of its own so that host-only
// tools (bench/schedule_sim.cpp) bucket a step's token count the same way without CUDA.
#include <cstdint>

namespace ds::cuda {

// Itself up to 64, then rounded up to a multiple of an eighth of the power of two below it (at most
// 12.5% above t; 8 buckets per doubling).
inline int64_t row_bucket(int64_t t) {
  if (t <= 64) return t;
  int64_t p = 64;
  while (p * 2 <= t) p *= 2;
  const int64_t step = p / 8;
  return (t + step - 1) / step * step;
}

}  // namespace ds::cuda
