#pragma once
// Host-side launchers of the CUDA kernels (one .cu file per concept). Raw device pointers and host
// ints only: shape checks on Tensor views happen in cuda_ops.cpp. Every launcher is a no-op for an
// empty batch, enqueues on `stream` and checks the launch. Storage is bf16, arithmetic fp32.
// CPU reference of each: the same-named op in src/backend/cpu.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ds::cuda {

using bf16 = __nv_bfloat16;

// out[t, :] = table[ids[t], :]      table [vocab, h] (F32/F16/BF16), out [t, h] (BF16 or F32: the
// decoder's fp32 residual stream). Ids outside [0, vocab) give a zero row (the engine validates ids
// before they get here).
void launch_embedding(const void* table, DType table_dtype, int64_t vocab, int64_t h, const int32_t* ids,
                      int64_t t, void* out, DType out_dtype, cudaStream_t stream);

// out = x * rsqrt(mean(x^2) + eps) * w      x [t, h] (BF16 or F32), out [t, h] bf16; w [h] (F32/F16/BF16).
// A row's sum of squares is formed in one order for every t (fp32 batches of t > 1 take a kernel with
// many rows in flight that replays that order), so a row's output does not depend on the batch.
void launch_rmsnorm(const void* x, DType x_dtype, const void* w, DType w_dtype, float eps, int64_t t, int64_t h,
                    bf16* out, cudaStream_t stream);

// residual += x (rounded to the residual's dtype, F32 or BF16, and stored); out = rmsnorm(residual) * w.
// x [t, h] (BF16 or F32: the decoder's o_proj/down_proj outputs are fp32), residual [t, h], out [t, h] bf16.
void launch_add_rmsnorm(const void* x, DType x_dtype, void* residual, DType residual_dtype, const void* w,
                        DType w_dtype, float eps, int64_t t, int64_t h, bf16* out, cudaStream_t stream);

// In place: q [t, q_heads * head_dim], k [t, k_heads * head_dim] rotated by positions[t] * inv_freq[i]
// on pairs (i, i + head_dim / 2). inv_freq [head_dim / 2] in device memory.
void launch_rope(bf16* q, bf16* k, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                 const int32_t* positions, const float* inv_freq, cudaStream_t stream);

// launch_rope on q, and k rotated straight into k_cache (plus v into v_cache) at slot_mapping[i]
// (-1 = skip); k itself is not written. One pass instead of rope + store_kv.
void launch_rope_store_kv(bf16* q, const bf16* k, const bf16* v, int64_t t, int64_t q_heads, int64_t k_heads,
                          int64_t head_dim, const int32_t* positions, const float* inv_freq, bf16* k_cache,
                          bf16* v_cache, const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream);
// The same for the rows of a fused projection: qkv [t, (q_heads + 2 k_heads) * head_dim]; the rotated q
// into q [t, q_heads * head_dim] (qkv is not written).
void launch_qkv_rope_store(const bf16* qkv, bf16* q, int64_t t, int64_t q_heads, int64_t k_heads, int64_t head_dim,
                           const int32_t* positions, const float* inv_freq, bf16* k_cache, bf16* v_cache,
                           const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream);

// k_cache/v_cache [num_slots, row] (= [num_blocks, block_size, Hk, D]); row slot_mapping[i] := k/v[i]
// for i < t, skipping slot -1. k, v [t, row].
void launch_store_kv(const bf16* k, const bf16* v, bf16* k_cache, bf16* v_cache, int64_t t, int64_t row,
                     const int32_t* slot_mapping, int64_t num_slots, cudaStream_t stream);

// out = silu(gate) * up, elementwise over n elements (out may alias gate or up).
void launch_silu_mul(const bf16* gate, const bf16* up, bf16* out, int64_t n, cudaStream_t stream);
// out [rows, i] = silu(gate_up[:, :i]) * gate_up[:, i:] for gate_up [rows, 2i]
void launch_silu_mul_halves(const bf16* gate_up, bf16* out, int64_t rows, int64_t i, cudaStream_t stream);

// Skinny matmul for decode (skinny_matmul.cu): out[t, n] = x[t, k] @ w[n, k]^T (+ bias[n], BF16 or
// F32; nullptr = none) for 1 <= t <= kSkinnyMatmulMaxRows (decode at batch 1-2); out BF16 or F32. Needs k % 8 == 0 and
// 16-byte aligned x and w (skinny_matmul_supports); the op falls back to cuBLASLt otherwise.
constexpr int64_t kSkinnyMatmulMaxRows = 2;
bool skinny_matmul_supports(int64_t t, int64_t k, const void* x, const void* w);
// One decode row through the fused gate/up projection and SwiGLU: out[j] = silu(g_j) * u_j with
// g_j = bf16(x . w[j]), u_j = bf16(x . w[n + j]); x [1, k], w_gate_up [2n, k], out [1, n] bf16.
// Same requirements as the skinny matmul.
void launch_skinny_swiglu(const bf16* x, const bf16* w_gate_up, int64_t n, int64_t k, bf16* out, int deal_sms,
                          cudaStream_t stream);
// residual[t, n] += x[t, k] @ w[n, k]^T (residual fp32, each element residual + (x . w_n)): a
// decode step's o_proj / down_proj added into the residual stream in the matmul's epilogue.
void launch_skinny_matmul_add(const bf16* x, const bf16* w, float* residual, int64_t t, int64_t n, int64_t k,
                              int deal_sms, cudaStream_t stream);
// The same for one row (t = 1), then normed[1, n] = rmsnorm(residual) * norm_w (bf16) with
// launch_add_rmsnorm's numbers, bit for bit: the last block of the grid to finish normalizes the
// row (a decode step's o_proj / down_proj and the norm after them in one kernel). counter: one
// int32 in device memory, zero before the launch and left zero by it (one counter may serve every
// launch of a stream). Needs skinny_add_norm_supports (n % 4 == 0, n <= kSkinnyNormMaxHidden,
// 16-byte aligned residual, 8-byte aligned normed).
void launch_skinny_matmul_add_norm(const bf16* x, const bf16* w, float* residual, int64_t n, int64_t k,
                                   const bf16* norm_w, float eps, bf16* normed, int32_t* counter, int deal_sms,
                                   cudaStream_t stream);
bool skinny_add_norm_supports(int64_t k, int64_t n, const void* x, const void* w, const void* residual,
                              const void* normed);
constexpr int64_t kSkinnyNormMaxHidden = 8192;  // the row norm's layout (norm_row.cuh: 8 x 4 x 256)
// The attention block's start for one decode row: qkv = x @ w_qkv^T (+ bias), x [1, k] bf16 (already
// normalized), with launch_skinny_matmul's sums (dealt as it is: deal_sms), then rope on q and k and
// the store of k and v into their cache slot as launch_rope_store_kv, in the matmul's epilogue: a
// warp computes columns i and i + d/2 of one head, rounds them to bf16 as the qkv buffer would,
// rotates them (q, k) and writes q into qkv's q columns, k and v into the caches. qkv's k and v
// columns are not written.
struct QkvRope {
  const int32_t* positions = nullptr;     // [1]
  const float* inv_freq = nullptr;        // [d / 2]
  bf16* k_cache = nullptr;                // [num_slots, kv_heads * d]
  bf16* v_cache = nullptr;
  const int32_t* slot_mapping = nullptr;  // [1]; -1 or out of range: nothing stored
  int64_t num_slots = 0;
  int32_t head_dim = 0, q_heads = 0, kv_heads = 0;
};
void launch_skinny_qkv_rope(const bf16* x, const bf16* w_qkv, const void* bias, DType bias_dtype, bf16* qkv,
                            const QkvRope& r, int64_t k, int deal_sms, cudaStream_t stream);
// The same kernel for any t, one row at a time: every output element's summation order depends on k
// only, so results are bit-identical whatever the batch (batch-invariant mode; slow for large t).
void launch_invariant_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                             DType out_dtype, int64_t t, int64_t n, int64_t k, cudaStream_t stream);
// residual[t, n] += x[t, k] @ w[n, k]^T with launch_invariant_matmul's sums (the batch-invariant
// form of matmul_add: residual + sum, as matmul into fp32 then add_rmsnorm's add).
void launch_invariant_matmul_add(const bf16* x, const bf16* w, float* residual, int64_t t, int64_t n, int64_t k,
                                 cudaStream_t stream);
// Dealing (deal_sms > 0: the device's multiprocessor count): a
// grid of fewer than two blocks per multiprocessor is rounded up to a multiple of them and the
// columns are dealt out over all its blocks (warp w of block b starts at column w * blocks + b), so
// every SM streams the same share of the weights. Each column's sum is the same either way.
void launch_skinny_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                          DType out_dtype, int64_t t, int64_t n, int64_t k, int deal_sms, cudaStream_t stream);

// out[i, :] = x[rows[i], :] for i < n_rows; rows of row_bytes bytes (any dtype).
void launch_gather_rows(const void* x, size_t row_bytes, const int32_t* rows, int64_t n_rows, void* out,
                        cudaStream_t stream);

// Paged causal attention (vLLM contract, see backend/ops.h). Metadata pointers are device memory.
// Kernels: kSimple (paged_attention.cu: CUDA cores, any head_dim in {8..256}, the generic fallback),
// kDecode and kPrefill (paged_attention_tc.cu: tensor cores, head_dim 64/128, K/V read once per GQA
// group; kDecode needs group <= 16 and splits the context). Each is correct for any batch (decode,
// prefill, chunked prefill, mixed); kAuto picks by shape: one token per sequence -> kDecode, else
// kPrefill, kSimple for other head dims.
enum class AttentionKernel : int32_t { kAuto, kSimple, kDecode, kPrefill };

struct PagedAttentionArgs {
  int64_t num_tokens = 0;  // T = rows of q/out
  int32_t num_seqs = 0;
  int32_t num_q_heads = 0, num_kv_heads = 0, head_dim = 0;
  int32_t block_size = 0, max_blocks_per_seq = 0;
  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;         // [num_seqs]
  const int32_t* block_tables = nullptr;     // [num_seqs, max_blocks_per_seq]
  float scale = 1.f;
  // Set by plan_paged_attention from host values fixed for a batch shape (T, num_seqs, heads,
  // max_blocks_per_seq * block_size as the context bound), never from per-step lengths, so a
  // captured CUDA graph stays valid. With num_splits > 1, part_ml [T*Hq*splits*2] and part_acc
  // [T*Hq*splits*D] (fp32 device workspace, paged_attention_workspace_floats in total) hold the
  // partial softmax states. kSimple splits at fixed split_len (merged by a second kernel); kDecode
  // cuts each token's actual context on the device into at most num_splits (split_len unused) and
  // merges in its last block, counted in split_counters [T*Hk] (int32, a buffer of its own: zero
  // before the first launch, left zero by every launch, so any later plan may reuse it).
  // kDecode, cluster_splits > 1 (sm_90; set by the plan when num_splits > 1): the grid's splits are
  // rounded up to a multiple of it and launched as clusters of that many blocks; a token whose
  // context uses at most that many splits merges them in the cluster (distributed shared memory),
  // a longer one through part_ml / part_acc and the counter.
  AttentionKernel kernel = AttentionKernel::kSimple;
  int32_t num_splits = 1, split_len = 1 << 30, cluster_splits = 0;
  // kDecode, timing experiments only (DS_ATTN_DROP; outputs are wrong): stages left out, bits
  // kDropAll (the whole kernel after the wait), kDropMerge (the splits' merge: each split writes
  // its own rows), kDropCompute (the tiles' QK / softmax / PV; their loads are still waited for),
  // kDropWarpMerge (the 4 warps' merge through shared memory), kDropCachedKV (the cached K/V rows'
  // loads: only q and the token's own row are read), kDropMergeReads (the cluster merge's barriers
  // without its reads: block 0 writes its own state), kNoTrigger (no early launch of the next
  // kernel: it starts when this grid completes).
  int32_t drop = 0;
  static constexpr int32_t kDropAll = 1, kDropMerge = 2, kDropCompute = 4, kDropWarpMerge = 8, kDropCachedKV = 16,
                           kDropMergeReads = 32, kNoTrigger = 64;
  float* part_ml = nullptr;
  float* part_acc = nullptr;
  int32_t* split_counters = nullptr;
};
// Chooses a.kernel (want, or by shape for kAuto; an unsupported choice falls back to kSimple) and
// the splits.
void plan_paged_attention(PagedAttentionArgs& a, int num_sms, AttentionKernel want = AttentionKernel::kAuto);
size_t paged_attention_workspace_floats(const PagedAttentionArgs& a);
// Split counters the plan needs (int32; 0 unless kDecode with num_splits > 1).
size_t paged_attention_counters(const PagedAttentionArgs& a);
// Points part_acc / part_ml into ws (paged_attention_workspace_floats floats; part_acc first, so
// its rows stay 16-byte aligned) and split_counters at counters (paged_attention_counters ints,
// zeroed once when allocated).
void set_paged_attention_workspace(PagedAttentionArgs& a, float* ws, int32_t* counters);
// q, out [T, Hq * D]; caches [num_blocks, block_size, Hk, D]. head_dim in {8, 16, 32, 64, 128, 256}
// (below 32, lanes >= head_dim idle in kSimple: only the tiny test models use those).
bool paged_attention_supports(int32_t head_dim);
void launch_paged_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionArgs& a,
                            bf16* out, cudaStream_t stream);
// The tensor-core kernels (called by launch_paged_attention for kDecode / kPrefill).
void launch_paged_attention_tc(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionArgs& a,
                               bool decode, bf16* out, cudaStream_t stream);
// Resident blocks per SM of the decode kernel (occupancy query, cached): the planner's wave size.
int paged_attention_decode_blocks_per_sm(int32_t head_dim);
// Whether the device launches thread block clusters (compute capability >= 9.0; queried once).
bool paged_attention_clusters_supported();

}  // namespace ds::cuda
