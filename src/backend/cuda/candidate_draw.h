#pragma once
// The candidate draw of the CUDA sampler (sampling.cu) for rows with top-k/top-p/min-p: instead of
// sorting a row's whole vocabulary (sorted_draw.h), sort only its best entries. Three stages:
//   1. weight histogram, grid (slices, rows): each processed logit's bin of d = (max - l) / T
//      (width 1/8, d < 32; the row's max from the one-pass kernel), tokens and fixed-point weights
//      per bin; the row's last slice picks the fewest bins that close the draw by those weights
//      (top-k, top-p or min-p inside them), else the most bins holding at most kCandidateCap tokens
//      (a bin prefix is a prefix of the sorted order: the bin is monotone in l);
//   2. compaction, grid (slices, rows): those tokens as 64-bit keys (descending-order bits of the
//      logit << id bits | id: no ties, so the order never depends on the atomic write order), and
//      the weight of the other tokens, per slice;
//   3. a block per row sorts its keys (cub::BlockRadixSort; 512 or 2,048 slots) and walks them
//      (sorted_walk.cuh), the top-p mass being the candidates' weight plus the rest's when no
//      filter cut inside them.
// A row the candidates cannot decide (a flat distribution: more than kCandidateCap entries in the
// top-p mass, min-p below the candidates, a top-k past them, a non-finite max) gets id -1; the
// sampler then draws it with the full sort. CPU reference: ref_sorted in tests/gpu/sampling_test.cpp.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/sampling.h"

namespace ds::cuda {

constexpr int kCandidateCap = 2048;

// Bytes of device workspace for `rows` rows; zeroed once when allocated (the kernels leave their
// counters at zero).
size_t candidate_draw_workspace_bytes(size_t rows);

// Draws rows[list[c]] for c < count into results[list[c]] (id -1: not decided), with the rows'
// maximum processed logits `top` and log-sum-exps `lse` (indexed by batch row) from the one-pass
// kernel.
void launch_candidate_draw(const float* logits, int64_t vocab, int count, const SampleRow* rows,
                           const LogitAdjustment* adj, const int32_t* list, const float* top, const float* lse,
                           SampleResult* results, void* workspace, cudaStream_t stream);

}  // namespace ds::cuda
