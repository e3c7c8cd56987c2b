#pragma once
// upload_weights: ModelWeights (host views into the mmap'd checkpoint or the dummy buffer) ->
// ModelWeights whose views live in the backend's memory.
// - CPU backend: the same views (and the same storage), no copy: the CPU ops read host memory and
//   widen bf16/f16 weights in registers.
// - Device backends: one allocation holds every tensor (256-byte aligned offsets). Matrices and
//   biases are converted to `matmul_dtype` (the CUDA matmul wants bf16 operands); norm weights keep
//   their checkpoint dtype (the norm kernels read F32/F16/BF16). A tensor already in the wanted
//   dtype is copied straight from the mmap to the device (no second host copy); one that needs
//   conversion goes through a 16 MiB staging chunk. Tied lm_head/embed_tokens share one copy.
//   The result's `storage` owns the device buffer only, so the host copy can be released.
//   Fusion layout: k_proj and v_proj follow q_proj directly (likewise their biases, and up_proj
//   follows gate_proj), so q|k|v and gate|up are each one contiguous [sum N, K] matrix that the
//   Decoder multiplies in one matmul (it checks the adjacency; fused_rows() below).
#include "backend/backend.h"
#include "model/weights.h"

namespace ds {

ModelWeights upload_weights(const ModelWeights& host, Backend& backend, DType matmul_dtype);

// Bytes of every distinct tensor of `w` (tied views counted once): what one decode step reads.
size_t weight_bytes(const ModelWeights& w);

// If `parts` are defined, of one dtype and the same row length, and lie back to back in memory,
// the view [sum of rows, K] (or [sum N] for 1-D biases) over all of them; else an undefined Tensor.
Tensor fused_rows(std::initializer_list<const Tensor*> parts);

}  // namespace ds
