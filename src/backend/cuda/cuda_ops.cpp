#include "backend/cuda/cuda_ops.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"

namespace ds::cuda {
namespace {

bf16* bf(const Tensor& t) {
  DS_CHECK(t.dtype == DType::kBF16) << "cuda backend wants bfloat16 activations, got " << dtype_name(t.dtype);
  return static_cast<bf16*>(t.data);
}

// The rope + K/V store epilogue's arguments for a fused q/k/v weight of n rows (heads from the
// cache shape and head_dim).
QkvRope qkv_rope(const int32_t* positions, const RopeParams& rope, const Tensor& k_cache, const Tensor& v_cache,
                 const int32_t* slot_mapping, int64_t n) {
  const int64_t d = rope.head_dim, hk = k_cache.dim(2);
  QkvRope r;
  r.positions = positions, r.inv_freq = rope.inv_freq, r.k_cache = bf(k_cache), r.v_cache = bf(v_cache);
  r.slot_mapping = slot_mapping, r.num_slots = k_cache.dim(0) * k_cache.dim(1);
  r.head_dim = int32_t(d), r.q_heads = int32_t((n - 2 * hk * d) / d), r.kv_heads = int32_t(hk);
  return r;
}

}  // namespace

CudaOps::CudaOps(cudaStream_t stream, CublasLtMatmul& matmul, int num_sms, bool batch_invariant)
    : stream_(stream), matmul_(matmul), num_sms_(num_sms), batch_invariant_(batch_invariant) {
  const char* off = std::getenv("DS_NO_SKINNY_MATMUL");
  use_skinny_ = !(off && *off && *off != '0');
  const char* deal = std::getenv("DS_SKINNY_DEAL");
  deal_ = !(deal && *deal == '0');
  const char* clusters = std::getenv("DS_ATTN_CLUSTER");
  attn_clusters_ = !(clusters && *clusters == '0');
  if (const char* e = std::getenv("DS_ATTN_DROP"); e && *e) {
    attn_drop_ = std::atoi(e);
    std::fprintf(stderr, "DS_ATTN_DROP=%d: decode attention leaves stages out (timing experiments only: outputs are wrong)\n",
                 attn_drop_);
  }
  if (const char* e = std::getenv("DS_ATTN_MIXED_SKIP"); e && *e) {
    mixed_skip_ = std::string_view(e) == "decode" ? 1 : std::string_view(e) == "prefill" ? 2 : 0;
    std::fprintf(stderr, "DS_ATTN_MIXED_SKIP=%s: mixed batches leave that launch out (timing experiments only: outputs are wrong)\n", e);
  }
  const char* one = std::getenv("DS_ONE_ATTENTION_LAUNCH");
  split_mixed_ = !(one && *one && *one != '0');
  const char* add_norm = std::getenv("DS_NO_ADD_NORM");
  add_norm_ = !(add_norm && *add_norm && *add_norm != '0');
  const char* no_acc = std::getenv("DS_NO_ACCUMULATE_NORM");
  accumulate_norm_ = !(no_acc && *no_acc && *no_acc != '0');
  CUDA_CHECK(cudaMalloc(&add_norm_counter_, sizeof(int32_t)));
  CUDA_CHECK(cudaMemsetAsync(add_norm_counter_, 0, sizeof(int32_t), stream_));  // ordered before its kernels
}

CudaOps::~CudaOps() {
  if (attn_workspace_) cudaFree(attn_workspace_);
  if (split_counters_) cudaFree(split_counters_);
  if (add_norm_counter_) cudaFree(add_norm_counter_);
  for (void* w : retired_workspaces_) cudaFree(w);
}

void CudaOps::embedding(const Tensor& table, const int32_t* ids, Tensor out) {
  DS_CHECK_EQ(out.dim(1), table.dim(1));
  DS_CHECK(out.dtype == DType::kBF16 || out.dtype == DType::kF32) << "embedding out " << dtype_name(out.dtype);
  launch_embedding(table.data, table.dtype, table.dim(0), table.dim(1), ids, out.dim(0), out.data, out.dtype, stream_);
}

void CudaOps::rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor out) {
  DS_CHECK(x.dim(1) == w.numel() && out.numel() == x.numel()) << x.shape_str() << w.shape_str() << out.shape_str();
  launch_rmsnorm(x.data, x.dtype, w.data, w.dtype, eps, x.dim(0), x.dim(1), bf(out), stream_);
}

void CudaOps::add_rmsnorm(const Tensor& x, Tensor residual, const Tensor& w, float eps, Tensor out) {
  DS_CHECK(x.numel() == residual.numel() && out.numel() == x.numel() && x.dim(1) == w.numel())
      << x.shape_str() << residual.shape_str() << w.shape_str() << out.shape_str();
  launch_add_rmsnorm(x.data, x.dtype, residual.data, residual.dtype, w.data, w.dtype, eps, x.dim(0), x.dim(1),
                     bf(out), stream_);
}

// Decode-sized matmuls (T <= kSkinnyMatmulMaxRows) stream the weights with the skinny kernel;
// everything else (and DS_NO_SKINNY_MATMUL=1, for same-card comparisons) goes to cuBLASLt.
void CudaOps::matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) {
  const int64_t t = x.dim(0), k = x.dim(1), n = w.dim(0);
  if (batch_invariant_) {
    DS_CHECK(x.dtype == DType::kBF16 && w.dtype == DType::kBF16 && w.dim(1) == k && out.dim(0) == t && out.dim(1) == n)
        << x.shape_str() << w.shape_str() << out.shape_str();
    if (bias.defined()) {
      DS_CHECK_EQ(bias.numel(), n);
    }
    launch_invariant_matmul(bf(x), static_cast<const bf16*>(w.data), bias.defined() ? bias.data : nullptr,
                            bias.defined() ? bias.dtype : DType::kF32, out.data, out.dtype, t, n, k, stream_);
    return;
  }
  if (skinny_matmul(x, w)) {
    DS_CHECK(w.dim(1) == k && out.dim(0) == t && out.dim(1) == n) << x.shape_str() << w.shape_str() << out.shape_str();
    if (bias.defined()) {
      DS_CHECK_EQ(bias.numel(), n);
    }
    launch_skinny_matmul(bf(x), static_cast<const bf16*>(w.data), bias.defined() ? bias.data : nullptr,
                         bias.defined() ? bias.dtype : DType::kF32, out.data, out.dtype, t, n, k, deal_sms(), stream_);
    return;
  }
  matmul_.run(x, w, bias, out, stream_);
}

void CudaOps::rope(Tensor q, Tensor k, const int32_t* positions, const RopeParams& rope) {
  const int64_t d = rope.head_dim;
  DS_CHECK(d > 0 && d % 2 == 0 && q.dim(1) % d == 0 && k.dim(1) % d == 0 && q.dim(0) == k.dim(0))
      << "head_dim " << d << " q " << q.shape_str() << " k " << k.shape_str();
  launch_rope(bf(q), bf(k), q.dim(0), q.dim(1) / d, k.dim(1) / d, d, positions, rope.inv_freq, stream_);
}

void CudaOps::store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
                       const int32_t* slot_mapping) {
  const int64_t row = k.dim(1);
  DS_CHECK_EQ(row, k_cache.dim(2) * k_cache.dim(3));
  DS_CHECK(v.numel() == k.numel() && v_cache.numel() == k_cache.numel());
  launch_store_kv(bf(k), bf(v), bf(k_cache), bf(v_cache), k.dim(0), row, slot_mapping,
                  k_cache.dim(0) * k_cache.dim(1), stream_);
}

void CudaOps::rope_store_kv(Tensor q, Tensor k, const Tensor& v, const int32_t* positions, const RopeParams& rope,
                            Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) {
  const int64_t d = rope.head_dim;
  DS_CHECK(d > 0 && d % 2 == 0 && q.dim(1) % d == 0 && k.dim(1) % d == 0 && q.dim(0) == k.dim(0))
      << "head_dim " << d << " q " << q.shape_str() << " k " << k.shape_str();
  DS_CHECK(k.dim(1) == k_cache.dim(2) * k_cache.dim(3) && v.numel() == k.numel() && v_cache.numel() == k_cache.numel())
      << k.shape_str() << v.shape_str() << k_cache.shape_str();
  launch_rope_store_kv(bf(q), bf(k), bf(v), q.dim(0), q.dim(1) / d, k.dim(1) / d, d, positions, rope.inv_freq,
                       bf(k_cache), bf(v_cache), slot_mapping, k_cache.dim(0) * k_cache.dim(1), stream_);
}

void CudaOps::qkv_rope_store(const Tensor& qkv, Tensor q, const int32_t* positions, const RopeParams& rope,
                             Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) {
  const int64_t d = rope.head_dim, t = qkv.dim(0), hk = k_cache.dim(2);
  DS_CHECK(d > 0 && d % 2 == 0 && q.dim(1) % d == 0 && q.dim(0) == t && k_cache.dim(3) == d &&
           qkv.dim(1) == q.dim(1) + 2 * hk * d && v_cache.numel() == k_cache.numel())
      << "head_dim " << d << " qkv " << qkv.shape_str() << " q " << q.shape_str() << " cache " << k_cache.shape_str();
  launch_qkv_rope_store(bf(qkv), bf(q), t, q.dim(1) / d, hk, d, positions, rope.inv_freq, bf(k_cache), bf(v_cache),
                        slot_mapping, k_cache.dim(0) * k_cache.dim(1), stream_);
}

PagedAttentionArgs paged_attention_args(const Tensor& q, const Tensor& k_cache, const AttentionBatch& b, float scale) {
  PagedAttentionArgs a;
  a.num_tokens = q.dim(0);
  a.num_seqs = b.num_seqs;
  a.num_kv_heads = int32_t(k_cache.dim(2));
  a.head_dim = int32_t(k_cache.dim(3));
  a.num_q_heads = int32_t(q.dim(1) / a.head_dim);
  DS_CHECK(q.dim(1) == a.num_q_heads * a.head_dim) << q.shape_str() << k_cache.shape_str();
  DS_CHECK_EQ(b.block_size, k_cache.dim(1));
  a.block_size = b.block_size;
  a.max_blocks_per_seq = b.max_blocks_per_seq;
  a.query_start_loc = b.query_start_loc;
  a.seq_lens = b.seq_lens;
  a.block_tables = b.block_tables;
  a.scale = scale;
  return a;
}

// A mixed batch whose first sequences are decodes (as the scheduler orders them) runs as two
// launches: those through the decode kernel, the rest through the prefill kernel (metadata pointers
// moved past the decodes; the kernels address q and out rows through query_start_loc, which holds
// absolute rows). One prefill launch over all of it would give each decode row a 64-row tile of
// its own (7 of 64 rows used on the 7B) and make every block scan all sequences to find its tile:
// H200 offline run, bench/results/cuda_h200_session8.md.
void CudaOps::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& b,
                        float scale, Tensor out) {
  DS_CHECK(out.numel() == q.numel() && q.ndim == 2) << q.shape_str() << out.shape_str();
  // The tensor-core kernels address a layer's K or V in 32-bit 16-byte chunks (up to 64 GiB).
  DS_CHECK(k_cache.nbytes() / 16 <= 0xffffffffull) << "a layer's K cache of " << k_cache.nbytes() << " bytes";
  const int32_t d = b.num_decode_seqs;
  const int64_t head_dim = k_cache.dim(3);
  if (batch_invariant_ || !split_mixed_ || d <= 0 || d >= b.num_seqs || !(head_dim == 64 || head_dim == 128)) {
    run_attention(paged_attention_args(q, k_cache, b, scale), AttentionKernel::kAuto, q, k_cache, v_cache, out);
    return;
  }
  AttentionBatch decodes = b;
  decodes.num_seqs = d;
  const Tensor dq(q.data, q.dtype, {d, q.dim(1)}), dout(out.data, out.dtype, {d, out.dim(1)});
  if (mixed_skip_ != 1)
    run_attention(paged_attention_args(dq, k_cache, decodes, scale), AttentionKernel::kDecode, dq, k_cache, v_cache, dout);
  if (mixed_skip_ == 2) return;
  AttentionBatch rest = b;
  rest.num_seqs = b.num_seqs - d;
  rest.num_decode_seqs = 0;
  rest.query_start_loc += d;
  rest.seq_lens += d;
  rest.block_tables += int64_t(d) * b.max_blocks_per_seq;
  PagedAttentionArgs a = paged_attention_args(q, k_cache, rest, scale);
  a.num_tokens = q.dim(0) - d;
  run_attention(a, AttentionKernel::kPrefill, q, k_cache, v_cache, out);
}

void CudaOps::run_attention(PagedAttentionArgs a, AttentionKernel want, const Tensor& q, const Tensor& k_cache,
                            const Tensor& v_cache, Tensor out) {
  // Batch-invariant mode: the simple kernel in one pass over the context per (token, head), so
  // the summation order depends on the context only (the decode kernel's order differs from the
  // prefill kernel's, and kAuto picks between them by batch shape).
  plan_paged_attention(a, num_sms_, batch_invariant_ ? AttentionKernel::kSimple : want);
  if (batch_invariant_) {
    a.num_splits = 1;
    a.split_len = 1 << 30;
  }
  if (!attn_clusters_ || batch_invariant_) a.cluster_splits = 0;
  if (!batch_invariant_) a.drop = attn_drop_;
  const size_t need = paged_attention_workspace_floats(a);
  if (need > attn_workspace_floats_) {
    // Grown in eager forwards only (a decode graph's shape runs eagerly once before it is captured).
    // The old buffer stays allocated until the backend goes: a captured graph may still point at it.
    if (attn_workspace_) retired_workspaces_.push_back(attn_workspace_);
    CUDA_CHECK(cudaMalloc(&attn_workspace_, need * sizeof(float)));
    attn_workspace_floats_ = need;
  }
  const size_t counters = paged_attention_counters(a);
  if (counters > split_counters_size_) {  // same growth rule; zeroed once, every launch leaves them zero
    if (split_counters_) retired_workspaces_.push_back(split_counters_);
    CUDA_CHECK(cudaMalloc(&split_counters_, counters * sizeof(int32_t)));
    CUDA_CHECK(cudaMemsetAsync(split_counters_, 0, counters * sizeof(int32_t), stream_));
    split_counters_size_ = counters;
  }
  set_paged_attention_workspace(a, attn_workspace_, split_counters_);
  launch_paged_attention(bf(q), bf(k_cache), bf(v_cache), a, bf(out), stream_);
}

void CudaOps::silu_mul(const Tensor& gate, const Tensor& up, Tensor out) {
  DS_CHECK(gate.numel() == up.numel() && out.numel() == gate.numel());
  launch_silu_mul(bf(gate), bf(up), bf(out), gate.numel(), stream_);
}

// One row: one kernel (both weight halves per warp, SwiGLU in its epilogue) where the skinny matmul
// would run. Several rows: the matmul into gate_up, then one silu_mul pass over every row's halves.
// Batch-invariant mode: the latter for every row count (its matmul is the one kernel of every shape).
void CudaOps::gate_up_silu(const Tensor& x, const Tensor& w_gate_up, Tensor gate_up, Tensor out) {
  const int64_t t = x.dim(0), k = x.dim(1), i = out.dim(1);
  DS_CHECK(w_gate_up.dim(0) == 2 * i && w_gate_up.dim(1) == k && out.dim(0) == t && gate_up.dim(0) == t &&
           gate_up.dim(1) == 2 * i)
      << x.shape_str() << w_gate_up.shape_str() << gate_up.shape_str() << out.shape_str();
  if (use_skinny_ && !batch_invariant_ && t == 1 && x.dtype == DType::kBF16 && w_gate_up.dtype == DType::kBF16 &&
      out.dtype == DType::kBF16 && skinny_matmul_supports(1, k, x.data, w_gate_up.data)) {
    launch_skinny_swiglu(bf(x), static_cast<const bf16*>(w_gate_up.data), i, k, bf(out), deal_sms(), stream_);
    return;
  }
  matmul(x, w_gate_up, Tensor(), gate_up);
  launch_silu_mul_halves(bf(gate_up), bf(out), t, i, stream_);
}

bool CudaOps::row_kernels(const Tensor& x, const Tensor& w) const {
  return use_skinny_ && !batch_invariant_ && x.dim(0) == 1 && w.dtype == DType::kBF16;
}

bool CudaOps::skinny_matmul(const Tensor& x, const Tensor& w) const {
  return use_skinny_ && x.dtype == DType::kBF16 && w.dtype == DType::kBF16 &&
         skinny_matmul_supports(x.dim(0), x.dim(1), x.data, w.data);
}

// One row: the add in the skinny kernel's epilogue. Otherwise cuBLASLt with beta = 1 (the residual
// is C and D), and in batch-invariant mode the invariant kernel's add epilogue; scratch is unused.
void CudaOps::matmul_add(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual) {
  const int64_t t = x.dim(0), k = x.dim(1), n = w.dim(0);
  DS_CHECK(w.dim(1) == k && residual.numel() == t * n && scratch.numel() == t * n && residual.dtype == DType::kF32 &&
           scratch.dtype == DType::kF32)
      << x.shape_str() << w.shape_str() << residual.shape_str() << scratch.shape_str();
  float* r = static_cast<float*>(residual.data);
  if (batch_invariant_) {
    DS_CHECK(w.dtype == DType::kBF16) << "matmul weight dtype " << dtype_name(w.dtype);
    launch_invariant_matmul_add(bf(x), static_cast<const bf16*>(w.data), r, t, n, k, stream_);
    return;
  }
  if (row_kernels(x, w) && x.dtype == DType::kBF16 && skinny_matmul_supports(1, k, x.data, w.data)) {
    launch_skinny_matmul_add(bf(x), static_cast<const bf16*>(w.data), r, 1, n, k, deal_sms(), stream_);
    return;
  }
  matmul_.run(x, w, Tensor(), Tensor(r, DType::kF32, {t, n}), stream_, /*accumulate=*/true, scratch.data);
}

// One row: matmul_add's kernel, whose last block normalizes the updated row (no add_rmsnorm kernel
// after it). Rows that cuBLASLt multiplies: the product added into the residual in its epilogue
// (matmul_add: beta = 1), then rmsnorm of the residual; the product is not written to scratch and
// read back by add_rmsnorm (at 16,384 rows of the 7B: 235 MB each way, twice per layer).
// DS_NO_ACCUMULATE_NORM=1: the product into scratch, then add_rmsnorm (Ops' form; A/B runs).
void CudaOps::matmul_add_rmsnorm(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual,
                                 const Tensor& norm_w, float eps, Tensor normed) {
  const int64_t k = x.dim(1), n = w.dim(0);
  if (add_norm_ && row_kernels(x, w) && x.dtype == DType::kBF16 && residual.dtype == DType::kF32 &&
      norm_w.dtype == DType::kBF16 && normed.dtype == DType::kBF16 &&
      skinny_add_norm_supports(k, n, x.data, w.data, residual.data, normed.data)) {
    DS_CHECK(w.dim(1) == k && residual.numel() == n && norm_w.numel() == n && normed.numel() == n)
        << x.shape_str() << w.shape_str() << residual.shape_str() << norm_w.shape_str() << normed.shape_str();
    launch_skinny_matmul_add_norm(bf(x), static_cast<const bf16*>(w.data), static_cast<float*>(residual.data), n, k,
                                  static_cast<const bf16*>(norm_w.data), eps, bf(normed), add_norm_counter_,
                                  deal_sms(), stream_);
    return;
  }
  // Rows that matmul() gives cuBLASLt: the add in its epilogue.
  if (accumulate_norm_ && !batch_invariant_ && !skinny_matmul(x, w) && x.dtype == DType::kBF16 &&
      w.dtype == DType::kBF16 && residual.dtype == DType::kF32) {
    matmul_add(x, w, scratch, residual);
    rmsnorm(residual, norm_w, eps, normed);
    return;
  }
  Ops::matmul_add_rmsnorm(x, w, scratch, residual, norm_w, eps, normed);
}

// One kernel for projection, rope and K/V store (a decode row); no qkv_rope_store kernel between the
// matmul and attention.
void CudaOps::matmul_qkv_rope_store(const Tensor& x, const Tensor& w_qkv, const Tensor& bias, const int32_t* positions,
                                    const RopeParams& rope, Tensor k_cache, Tensor v_cache,
                                    const int32_t* slot_mapping, Tensor qkv) {
  const int64_t k = x.dim(1), n = w_qkv.dim(0), d = rope.head_dim;
  const int64_t hk = k_cache.dim(2), ks = hk * d;
  if (row_kernels(x, w_qkv) && x.dtype == DType::kBF16 && qkv.dtype == DType::kBF16 &&
      k_cache.dtype == DType::kBF16 && skinny_matmul_supports(1, k, x.data, w_qkv.data) && d > 0 && d % 2 == 0 &&
      k_cache.dim(3) == d && (n - 2 * ks) > 0 && (n - 2 * ks) % d == 0) {
    DS_CHECK(w_qkv.dim(1) == k && qkv.dim(0) == 1 && qkv.dim(1) == n && (!bias.defined() || bias.numel() == n) &&
             v_cache.numel() == k_cache.numel())
        << x.shape_str() << w_qkv.shape_str() << qkv.shape_str() << k_cache.shape_str();
    launch_skinny_qkv_rope(bf(x), static_cast<const bf16*>(w_qkv.data), bias.defined() ? bias.data : nullptr,
                           bias.defined() ? bias.dtype : DType::kF32, bf(qkv),
                           qkv_rope(positions, rope, k_cache, v_cache, slot_mapping, n), k, deal_sms(),
                           stream_);
    return;
  }
  Ops::matmul_qkv_rope_store(x, w_qkv, bias, positions, rope, k_cache, v_cache, slot_mapping, qkv);
}

void CudaOps::gather_rows(const Tensor& x, const int32_t* rows, Tensor out) {
  DS_CHECK(x.dtype == out.dtype && x.dim(1) == out.dim(1)) << x.shape_str() << out.shape_str();
  launch_gather_rows(x.data, size_t(x.dim(1)) * dtype_size(x.dtype), rows, out.dim(0), out.data, stream_);
}

}  // namespace ds::cuda
