#pragma once
// Ops: THE backend boundary. The decoder is written once against this table; the CPU backend is
// the reference (and test oracle), the CUDA backend implements the same contract.
// All tensors are views in the backend's memory. Activations are float32 on the CPU backend;
// weights may be F32/F16/BF16. No stream/device handle ever appears above this interface.
#include <cstdint>

#include "core/tensor.h"

namespace ds {

// Paged-attention metadata for one forward (vLLM's contract). Tokens of all sequences are
// flattened: sequence s owns query rows [query_start_loc[s], query_start_loc[s+1]), whose
// positions are the last (q_len) of its seq_lens[s] context positions.
struct AttentionBatch {
  int32_t num_seqs = 0;
  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;         // [num_seqs] context length incl. the new tokens
  const int32_t* block_tables = nullptr;     // [num_seqs, max_blocks_per_seq] block ids
  int32_t max_blocks_per_seq = 0;
  int32_t block_size = 0;
  // How many of the first sequences have one query row each (a mixed batch's decodes, which the
  // scheduler puts first); 0 when unknown. Host-side: lets a backend run them with its decode kernel.
  int32_t num_decode_seqs = 0;
};

// Rotary embedding parameters, precomputed once per model: inv_freq[head_dim/2] (llama3 scaling
// already applied). Pairs are (i, i + head_dim/2): HF's rotate_half convention.
struct RopeParams {
  const float* inv_freq = nullptr;  // host or device memory, [head_dim / 2]
  int32_t head_dim = 0;
};

class Ops {
 public:
  virtual ~Ops() = default;

  // out[t, :] = table[ids[t], :]                       table [V, H], out [T, H]
  virtual void embedding(const Tensor& table, const int32_t* ids, Tensor out) = 0;
  // out = x / rms(x) * w                               x, out [T, H], w [H]
  virtual void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor out) = 0;
  // residual += x; out = rmsnorm(residual) * w         (the pre-norm decoder's fused step)
  virtual void add_rmsnorm(const Tensor& x, Tensor residual, const Tensor& w, float eps,
                           Tensor out) = 0;
  // out = x @ w^T (+ bias)                             x [T, K], w [N, K], bias [N] or undefined
  virtual void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) = 0;
  // In-place rotary embedding of q [T, Hq*D] and k [T, Hk*D] at positions[t].
  virtual void rope(Tensor q, Tensor k, const int32_t* positions, const RopeParams& rope) = 0;
  // Writes k, v [T, Hk*D] into the paged caches [num_blocks, block_size, Hk, D] at slot_mapping[t]
  // (slot = block * block_size + offset; -1 = skip).
  virtual void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
                        const int32_t* slot_mapping) = 0;
  // rope on q and k, then store_kv of the rotated k and of v: what the decoder does before attention.
  // k is left unrotated or rotated (backends choose): only the cache copy is read afterwards.
  // CUDA fuses the two (one pass, no rotated k written back); the default is the two ops.
  virtual void rope_store_kv(Tensor q, Tensor k, const Tensor& v, const int32_t* positions, const RopeParams& rope,
                             Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) {
    this->rope(q, k, positions, rope);
    store_kv(k, v, k_cache, v_cache, slot_mapping);
  }
  // rope_store_kv on the rows of a fused q|k|v projection: qkv [T, (Hq + 2 Hk) D]; the rotated q goes
  // to q [T, Hq D], the rotated k and v into the caches (Hk and D from the cache shape). CPU: the
  // rows split, then rope_store_kv; CUDA: rope_store_kv's kernel reading the packed rows.
  virtual void qkv_rope_store(const Tensor& qkv, Tensor q, const int32_t* positions, const RopeParams& rope,
                              Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) = 0;
  // Causal attention of q [T, Hq*D] over the paged cache (GQA: head h reads KV head
  // h / (Hq/Hk)); out [T, Hq*D].
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         const AttentionBatch& batch, float scale, Tensor out) = 0;
  // out = silu(gate) * up                              gate, up, out [T, I]
  virtual void silu_mul(const Tensor& gate, const Tensor& up, Tensor out) = 0;
  // The MLP's first half: out = silu(x @ W[:I]^T) * (x @ W[I:]^T) with the gate and up projections
  // fused row-wise at load time, w_gate_up [2I, K]; x [T, K], out [T, I]. gate_up [T, 2I] is
  // scratch. The default is matmul into gate_up, then silu_mul on each row's halves; CUDA streams
  // both halves of a single row in one kernel (gate_up unwritten) and runs one silu_mul pass over
  // the halves of every row of a batch.
  virtual void gate_up_silu(const Tensor& x, const Tensor& w_gate_up, Tensor gate_up, Tensor out) {
    matmul(x, w_gate_up, Tensor(), gate_up);
    const int64_t i = out.dim(1);
    for (int64_t r = 0; r < x.dim(0); ++r) {
      const Tensor gu(gate_up.row(r).data, gate_up.dtype, {1, 2 * i}), o(out.row(r).data, out.dtype, {1, i});
      silu_mul(gu.cols(0, i), gu.cols(i, i), o);
    }
  }
  // residual += x @ w^T                                x [T, K], w [N, K], residual [T, N] float32
  // (o_proj and down_proj added straight into the residual stream; `scratch` [T, N] float32 may be
  // used for the product). The sum is residual + (x . w_n), as matmul then add_rmsnorm's add.
  virtual void matmul_add(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual) = 0;
  // A layer's o_proj / down_proj and the norm after them:            scratch [T, N] float32
  // scratch = x @ w^T; residual += scratch; normed = rmsnorm(residual) * norm_w (add_rmsnorm).
  // The default is those two ops; CUDA runs a single row as one kernel (matmul_add's epilogue, and
  // the grid's last block normalizes the row; scratch unwritten), bit for bit the same numbers.
  virtual void matmul_add_rmsnorm(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual,
                                  const Tensor& norm_w, float eps, Tensor normed) {
    matmul(x, w, Tensor(), scratch);
    add_rmsnorm(scratch, residual, norm_w, eps, normed);
  }
  // The attention block's start for one row: qkv = x @ w_qkv^T (+ bias), then rope_store_kv on qkv's
  // q, k and v column slices (q rotated in place; k and v into the caches): a decode row's q/k/v
  // projection (its norm came with the residual add: matmul_add_rmsnorm). x [1, h];
  // qkv [1, (Hq + 2 Hk) D]; the caches give Hk and D. The default is those two ops; CUDA does the
  // rotation and the store in the matmul's epilogue (k and v columns of qkv unwritten).
  virtual void matmul_qkv_rope_store(const Tensor& x, const Tensor& w_qkv, const Tensor& bias, const int32_t* positions,
                                     const RopeParams& rope, Tensor k_cache, Tensor v_cache,
                                     const int32_t* slot_mapping, Tensor qkv) {
    matmul(x, w_qkv, bias, qkv);
    rope_store_qkv_columns(qkv, positions, rope, k_cache, v_cache, slot_mapping);
  }
  // out[i, :] = x[rows[i], :]                          selects the rows whose logits are needed
  virtual void gather_rows(const Tensor& x, const int32_t* rows, Tensor out) = 0;
 protected:
  // rope_store_kv on a [1, q|k|v] row's column slices (matmul_qkv_rope_store's default, second half).
  void rope_store_qkv_columns(Tensor qkv, const int32_t* positions, const RopeParams& rope, Tensor k_cache,
                              Tensor v_cache, const int32_t* slot_mapping) {
    const int64_t ks = k_cache.dim(2) * k_cache.dim(3), qs = qkv.dim(1) - 2 * ks;
    rope_store_kv(qkv.cols(0, qs), qkv.cols(qs, ks), qkv.cols(qs + ks, ks), positions, rope, k_cache, v_cache,
                  slot_mapping);
  }
};

}  // namespace ds
