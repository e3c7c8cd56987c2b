#pragma once
// CPU matmul: out[T, N] = x[T, K] @ w[N, K]^T in float32 arithmetic over F32/F16/BF16 weights.
// Batch-invariant by construction: every output element is one dot product whose summation order
// depends only on K, never on T or on the row's place in the batch, so a sequence gets bit-identical
// logits alone or batched (the engine's batch-invariance guarantee rests on this). The weights are
// walked in tiles that stay in L2 while all T rows pass over them (AVX2 + FMA: blocks of 4 rows x 3
// weight rows, bf16/f16 widened in registers; AVX-512 CPUs run this kernel too), so decode streams
// each weight once at memory bandwidth. The instruction set is picked once per process (cpu_isa): a
// row's bits are the same in any batch on one machine, not across machines. (oneDNN's sgemm was used
// first; its kernels change blocking with T, which broke batch invariance.)
#include "core/tensor.h"

namespace ds::cpu {

// kAuto: cpu_isa(). The others exist for tests (each path against the reference).
enum class MatmulIsa { kAuto, kScalar, kAvx2 };
bool matmul_isa_supported(MatmulIsa isa);
const char* matmul_isa_name(MatmulIsa isa);  // kAuto: the name of cpu_isa()
// The instruction set of the CPU backend's kernels (matmul; attention takes AVX2 from kAvx2 up):
// AVX2 + FMA + F16C where this CPU has them, else scalar; or DS_CPU_ISA=scalar|avx2 (same-binary A/B
// runs; one the CPU lacks, or another value, stops the process with a message). Read once.
MatmulIsa cpu_isa();

void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out, MatmulIsa isa = MatmulIsa::kAuto);

// Scalar reference (tests compare the fast paths against it).
void matmul_reference(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out);

}  // namespace ds::cpu
