#pragma once
// The CUDA op table: shape/dtype checks on the Tensor views, then one launcher per op
// (cuda_kernels.h, cublaslt_matmul.h). Everything is enqueued on the backend's stream.
#include <cuda_runtime.h>

#include <cstdlib>
#include <vector>

#include "backend/cuda/cublaslt_matmul.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/ops.h"

namespace ds::cuda {

// The launcher's view of one attention call (shapes from q and the cache, metadata from b); the
// kernel choice and splits are left to plan_paged_attention.
PagedAttentionArgs paged_attention_args(const Tensor& q, const Tensor& k_cache, const AttentionBatch& b, float scale);

class CudaOps final : public Ops {
 public:
  CudaOps(cudaStream_t stream, CublasLtMatmul& matmul, int num_sms, bool batch_invariant = false);
  ~CudaOps() override;
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;

  void embedding(const Tensor& table, const int32_t* ids, Tensor out) override;
  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor out) override;
  void add_rmsnorm(const Tensor& x, Tensor residual, const Tensor& w, float eps, Tensor out) override;
  void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) override;
  void rope(Tensor q, Tensor k, const int32_t* positions, const RopeParams& rope) override;
  void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
                const int32_t* slot_mapping) override;
  void rope_store_kv(Tensor q, Tensor k, const Tensor& v, const int32_t* positions, const RopeParams& rope,
                     Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) override;
  void qkv_rope_store(const Tensor& qkv, Tensor q, const int32_t* positions, const RopeParams& rope, Tensor k_cache,
                      Tensor v_cache, const int32_t* slot_mapping) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                 float scale, Tensor out) override;
  void silu_mul(const Tensor& gate, const Tensor& up, Tensor out) override;
  void gate_up_silu(const Tensor& x, const Tensor& w_gate_up, Tensor gate_up, Tensor out) override;
  void matmul_add(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual) override;
  void matmul_add_rmsnorm(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual, const Tensor& norm_w,
                          float eps, Tensor normed) override;
  void matmul_qkv_rope_store(const Tensor& x, const Tensor& w_qkv, const Tensor& bias, const int32_t* positions,
                             const RopeParams& rope, Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping,
                             Tensor qkv) override;
  void gather_rows(const Tensor& x, const int32_t* rows, Tensor out) override;

 private:
  cudaStream_t stream_;
  CublasLtMatmul& matmul_;
  int num_sms_;
  // Batch-invariant mode: every matmul through launch_invariant_matmul and attention without
  // split-KV, so a sequence's numbers do not depend on what else is in the batch.
  bool batch_invariant_ = false;
  bool use_skinny_ = true;  // skinny_matmul.cu for T <= 2 (DS_NO_SKINNY_MATMUL=1: cuBLASLt only)
  bool deal_ = true;  // small skinny grids deal their columns (DS_SKINNY_DEAL=0: off)
  int deal_sms() const { return deal_ ? num_sms_ : 0; }  // the plain skinny launchers' deal_sms
  bool attn_clusters_ = true;  // split decode attention merges in clusters (DS_ATTN_CLUSTER=0: off)
  int32_t attn_drop_ = 0;  // PagedAttentionArgs::drop (DS_ATTN_DROP: timing experiments)
  int mixed_skip_ = 0;  // DS_ATTN_MIXED_SKIP=decode (1) / prefill (2): a mixed batch's launch left out (timing only)
  bool split_mixed_ = true;  // a mixed batch's leading decodes in a launch of their own (DS_ONE_ATTENTION_LAUNCH=1: not)
  bool add_norm_ = true;  // matmul_add_rmsnorm of one row in one kernel (DS_NO_ADD_NORM=1: two)
  bool accumulate_norm_ = true;  // cuBLASLt rows: matmul_add, then rmsnorm (DS_NO_ACCUMULATE_NORM=1: not)
  int32_t* add_norm_counter_ = nullptr;  // its last-block counter (zeroed once; launches leave it zero)
  // The skinny kernels of one decode row, with the fused ops' conditions (not batch-invariant mode,
  // whose single matmul kernel covers every shape).
  bool row_kernels(const Tensor& x, const Tensor& w) const;
  // Whether matmul() takes the skinny kernel (T <= 2, bf16) for these operands rather than cuBLASLt
  // (outside batch-invariant mode, which matmul() checks first).
  bool skinny_matmul(const Tensor& x, const Tensor& w) const;
  // Plans `a` (want, or the batch-invariant kernel), sizes the workspace and launches.
  void run_attention(PagedAttentionArgs a, AttentionKernel want, const Tensor& q, const Tensor& k_cache,
                     const Tensor& v_cache, Tensor out);
  // Split-KV attention partials (fp32), grown on demand in eager forwards; replaced buffers are kept
  // (retired_workspaces_) until destruction because captured decode graphs may point at them.
  float* attn_workspace_ = nullptr;
  size_t attn_workspace_floats_ = 0;
  int32_t* split_counters_ = nullptr;  // the decode kernel's (zeroed once; launches leave them zero)
  size_t split_counters_size_ = 0;
  std::vector<void*> retired_workspaces_;
};

}  // namespace ds::cuda
