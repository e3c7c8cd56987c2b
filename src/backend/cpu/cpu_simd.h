#pragma once
// AVX2 helpers shared by the CPU kernels (compiled per function with target attributes: the binary
// runs on CPUs without AVX2, where cpu_isa() never picks these paths).
#include <immintrin.h>

#include <cstdint>

#include "core/dtype.h"

namespace ds::cpu {

// Elements [i, i + 8) of a row of kT values (f32, or bf16/f16 widened exactly) as 8 f32 lanes.
template <DType kT>
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const char* row, int64_t i) {
  if constexpr (kT == DType::kF32) return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
  if constexpr (kT == DType::kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

}  // namespace ds::cpu
