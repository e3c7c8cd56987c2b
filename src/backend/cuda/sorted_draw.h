#pragma once
// The full-sort draw of the CUDA sampler (sampling.cu) for the rows with top-k/top-p/min-p that the
// candidate draw (candidate_draw.h) cannot decide, or whose top-k reaches past its candidates: the
// rows' processed logits as 64-bit keys (row << 32 | descending-order bits of the logit), one
// cub::DeviceRadixSort over all of them (stable: equal logits keep the lower id first, the host
// sampler's order), then a block per row walks the sorted logits with block scans: candidates
// (weight exp((l-max)/T) > 0), top-k, its mass, min-p, top-p, and the crossing of u * mass with one
// Philox double u (sorted_walk.cuh). CPU reference: the host implementation of the same draw in
// tests/gpu/sampling_test.cpp.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/sampling.h"

namespace ds::cuda {

// Bytes of device workspace for `items` (rows x vocab) keys: keys and ids, in and out, and CUB's
// scratch.
size_t sorted_draw_workspace_bytes(size_t items, cudaStream_t stream);

// Draws rows[sorted_rows[c]] for c < chunk into results[sorted_rows[c]] (id and logprob; lse: the
// rows' log-sum-exp from the one-pass kernel), with `workspace` of
// sorted_draw_workspace_bytes(chunk * vocab) bytes.
void launch_sorted_draw(const float* logits, int64_t vocab, int chunk, const SampleRow* rows, const LogitAdjustment* adj,
                        const int32_t* sorted_rows, const float* lse, SampleResult* results, void* workspace,
                        cudaStream_t stream);

}  // namespace ds::cuda
