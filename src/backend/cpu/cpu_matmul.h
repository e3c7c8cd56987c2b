#pragma once
// CPU matmul: out[T, N] = x[T, K] @ w[N, K]^T in float32 arithmetic over F32/F16/BF16 weights.
// Decode (T small) streams the weights once through an AVX-512 GEMV that widens bf16/f16 in
// registers, so it runs at memory bandwidth; prefill widens 64-row weight panels into a per-thread
// f32 buffer and calls oneDNN's sgemm on them.
#include "core/tensor.h"

namespace ds::cpu {

void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out);

// Scalar reference (tests compare the fast paths against it).
void matmul_reference(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out);

}  // namespace ds::cpu
