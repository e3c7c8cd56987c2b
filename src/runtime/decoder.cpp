#include "runtime/decoder.h"

#include <cmath>
#include <cstdlib>

#include "runtime/device_weights.h"
#include "runtime/graph_batch.h"
#include "runtime/rope.h"

namespace ds {
namespace {
// Activation buffers; shapes for T tokens: [T, cols]. kSel/kLogits have max_logit_rows rows.
// kQkv/kGateUp hold the fused projections (max_tokens rows where every forward uses them, else one).
enum Act { kResidual, kNormed, kQ, kK, kV, kAttn, kOut, kGate, kUp, kMlp, kSel, kLogits, kQkv, kGateUp, kNumActs };

// An A/B switch: the variable is set to anything but empty or "0".
bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && *v != '0';
}

}  // namespace

Decoder::Decoder(const ModelConfig& cfg, const ModelWeights& w, Backend& be, int32_t max_tokens,
                 int32_t max_logit_rows)
    : cfg_(cfg), w_(w), be_(be), ops_(be.ops()), max_tokens_(max_tokens), max_logit_rows_(max_logit_rows) {
  // The CPU backend keeps its separate matmuls (its numerics stay exactly as they are).
  // DS_NO_FUSED_MATMUL=1 turns fusion off (for same-card before/after timings).
  if (be.name() != "cpu" && !env_on("DS_NO_FUSED_MATMUL")) {
    for (const LayerWeights& lw : w.layers) {
      FusedLayer f;
      f.qkv = fused_rows({&lw.q_proj, &lw.k_proj, &lw.v_proj});
      if (lw.q_bias.defined() || lw.k_bias.defined() || lw.v_bias.defined()) {
        f.qkv_bias = fused_rows({&lw.q_bias, &lw.k_bias, &lw.v_bias});
        if (!f.qkv_bias.defined()) f.qkv = Tensor();  // biases not fusable: keep q/k/v separate
      }
      f.gate_up = fused_rows({&lw.gate_proj, &lw.up_proj});
      fused_.push_back(f);
    }
    // (A decode row's layer with the norms inside the projections instead, each block of a one-wave
    // grid normalizing the row itself, was slower than layer()'s 5 kernels once o_proj and down_proj
    // normalized the residual in their last block: H200, 7B 128/512 decode 4.115 vs 4.057 and 4.159
    // vs 4.100 ms per token (bench/results/cuda_h200_session14.md); removed in session 15.)
    // DS_NO_BATCH_GATE_UP=1: forwards of several tokens run gate and up as two matmuls again (A/B).
    batch_gate_up_ = !env_on("DS_NO_BATCH_GATE_UP");
    for (const FusedLayer& f : fused_) batch_gate_up_ = batch_gate_up_ && f.gate_up.defined();
    // DS_NO_BATCH_QKV=1: forwards of several tokens run q, k and v as three matmuls again (A/B).
    batch_qkv_ = !env_on("DS_NO_BATCH_QKV");
    for (const FusedLayer& f : fused_) batch_qkv_ = batch_qkv_ && f.qkv.defined();
    // DS_NO_ROW_QKV_ROPE=1: a decode row runs q|k|v and rope_store_kv as two ops again (A/B).
    row_qkv_rope_ = !env_on("DS_NO_ROW_QKV_ROPE");
  }
  const int64_t h = cfg.hidden_size, i = cfg.intermediate_size;
  const int64_t cols[kNumActs] = {h, h, cfg.q_size(), cfg.kv_size(), cfg.kv_size(), cfg.q_size(), h, i, i, h, h,
                                  cfg.vocab_size, cfg.q_size() + 2 * cfg.kv_size(), 2 * i};
  for (int a = 0; a < kNumActs; ++a) {
    int64_t rows = max_tokens;
    if (a == kSel || a == kLogits) rows = max_logit_rows;
    if (a == kQkv && !batch_qkv_) rows = 1;              // one row's fused product
    if ((a == kK || a == kV) && batch_qkv_) rows = 1;    // only the unfused projections write them
    if (a == kGateUp && !batch_gate_up_) rows = 1;       // one row's fused product
    if (a == kUp && batch_gate_up_) rows = 1;            // only the unfused MLP writes it
    bufs_.push_back(be.alloc(size_t(rows * cols[a]) * dtype_size(act_dtype(a))));
  }
  std::vector<float> inv = rope_inv_freq(cfg);
  inv_freq_ = be.alloc(inv.size() * sizeof(float));
  be.copy_to_device(inv_freq_->data(), inv.data(), inv.size() * sizeof(float));
  rope_ = {static_cast<const float*>(inv_freq_->data()), int32_t(cfg.head_dim)};
}

// Logits are float32 on every backend (the sampler's log-softmax over a 152k vocabulary wants the
// matmul's fp32 accumulator, not a bf16 rounding of it). The residual stream and the two matmul
// outputs added into it (o_proj, down_proj) are float32 on every backend too: on CUDA the running
// sum is never rounded to bf16 across layers (the norm ops read fp32 and write the bf16 matmul
// operands). Everything else is the activation dtype.
DType Decoder::act_dtype(int which) const {
  return (which == kLogits || which == kResidual || which == kOut || which == kMlp) ? DType::kF32
                                                                                     : be_.activation_dtype();
}

Tensor Decoder::act(int which, int64_t rows, int64_t cols) {
  return Tensor(bufs_[size_t(which)]->data(), act_dtype(which), {rows, cols});
}

// Packs the batch's int32 arrays into one device buffer (one copy) and points the views at it.
void Decoder::upload_metadata(const ForwardBatch& b) {
  const std::vector<const std::vector<int32_t>*> parts = {&b.token_ids, &b.positions, &b.slot_mapping,
                                                          &b.logits_indices, &b.query_start_loc,
                                                          &b.seq_lens, &b.block_tables};
  std::vector<int32_t> packed;
  std::vector<size_t> offsets;
  for (const auto* p : parts) {
    offsets.push_back(packed.size());
    packed.insert(packed.end(), p->begin(), p->end());
  }
  if (!meta_ || meta_->size() < packed.size() * 4) meta_ = be_.alloc(packed.size() * 4 * 2);
  be_.copy_to_device(meta_->data(), packed.data(), packed.size() * 4);
  const int32_t* base = static_cast<const int32_t*>(meta_->data());
  d_tokens_ = base + offsets[0];
  d_positions_ = base + offsets[1];
  d_slots_ = base + offsets[2];
  d_logit_rows_ = base + offsets[3];
  attn_.query_start_loc = base + offsets[4];
  attn_.seq_lens = base + offsets[5];
  attn_.block_tables = base + offsets[6];
  // The CPU kernels read these host-side fields directly; a device backend reads the copies.
  attn_.num_seqs = b.num_seqs();
  attn_.max_blocks_per_seq = b.max_blocks_per_seq;
  attn_.num_decode_seqs = 0;
  while (attn_.num_decode_seqs < attn_.num_seqs &&
         b.query_start_loc[size_t(attn_.num_decode_seqs) + 1] - b.query_start_loc[size_t(attn_.num_decode_seqs)] == 1)
    ++attn_.num_decode_seqs;
}

void Decoder::layer(int64_t l, int32_t t, const AttentionBatch& ab, KvCache& kv) {
  const LayerWeights& lw = w_.layers[size_t(l)];
  const int64_t h = cfg_.hidden_size, i = cfg_.intermediate_size;
  const float eps = float(cfg_.rms_norm_eps);
  const Tensor normed = act(kNormed, t, h), attn = act(kAttn, t, cfg_.q_size()), out = act(kOut, t, h);
  Tensor q = act(kQ, t, cfg_.q_size());
  const FusedLayer* f = size_t(l) < fused_.size() ? &fused_[size_t(l)] : nullptr;
  if (f && f->qkv.defined() && t == 1 && row_qkv_rope_) {  // one row: rope and the K/V store in the matmul
    const Tensor qkv = act(kQkv, 1, f->qkv.dim(0));
    ops_.matmul_qkv_rope_store(normed, f->qkv, f->qkv_bias, d_positions_, rope_, kv.k(l), kv.v(l), d_slots_, qkv);
    q = qkv.cols(0, cfg_.q_size());
  } else if (f && f->qkv.defined() && (t == 1 || batch_qkv_)) {  // one matmul into [T, q|k|v]
    const Tensor qkv = act(kQkv, t, f->qkv.dim(0));
    ops_.matmul(normed, f->qkv, f->qkv_bias, qkv);
    ops_.qkv_rope_store(qkv, q, d_positions_, rope_, kv.k(l), kv.v(l), d_slots_);
  } else {
    const Tensor k = act(kK, t, cfg_.kv_size()), v = act(kV, t, cfg_.kv_size());
    ops_.matmul(normed, lw.q_proj, lw.q_bias, q);
    ops_.matmul(normed, lw.k_proj, lw.k_bias, k);
    ops_.matmul(normed, lw.v_proj, lw.v_bias, v);
    ops_.rope_store_kv(q, k, v, d_positions_, rope_, kv.k(l), kv.v(l), d_slots_);
  }
  ops_.attention(q, kv.k(l), kv.v(l), ab, 1.0f / std::sqrt(float(cfg_.head_dim)), attn);
  const Tensor residual = act(kResidual, t, h);
  ops_.matmul_add_rmsnorm(attn, lw.o_proj, out, residual, lw.post_attention_layernorm, eps, normed);
  Tensor gate = act(kGate, t, i), mlp = act(kMlp, t, h);
  if (f && f->gate_up.defined() && (t == 1 || batch_gate_up_)) {  // one matmul into [T, gate|up]
    ops_.gate_up_silu(normed, f->gate_up, act(kGateUp, t, 2 * i), gate);
  } else {
    const Tensor up = act(kUp, t, i);
    ops_.matmul(normed, lw.gate_proj, Tensor(), gate);
    ops_.matmul(normed, lw.up_proj, Tensor(), up);
    ops_.silu_mul(gate, up, gate);
  }
  const Tensor& next_norm = (l + 1 < cfg_.num_hidden_layers) ? w_.layers[size_t(l + 1)].input_layernorm : w_.norm;
  ops_.matmul_add_rmsnorm(gate, lw.down_proj, mlp, residual, next_norm, eps, normed);
}

Decoder::~Decoder() { drop_graphs(); }

void Decoder::drop_graphs() {
  if (graph_kv_)
    for (int32_t size : graph_sizes_) be_.erase_graph(graph_key(size));
  graph_kv_ = nullptr;
}

void Decoder::body(int32_t t, int64_t rows, const AttentionBatch& ab, KvCache& kv) {
  const int64_t h = cfg_.hidden_size;
  const float eps = float(cfg_.rms_norm_eps);
  ops_.embedding(w_.embed_tokens, d_tokens_, act(kResidual, t, h));
  ops_.rmsnorm(act(kResidual, t, h), w_.layers[0].input_layernorm, eps, act(kNormed, t, h));
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) layer(l, t, ab, kv);
  if (rows == 0) return;  // a prefill chunk that samples nothing
  // `normed` now holds the final-norm output of every token; project only the wanted rows.
  Tensor sel = act(kSel, rows, h), out = act(kLogits, rows, cfg_.vocab_size);
  ops_.gather_rows(act(kNormed, t, h), d_logit_rows_, sel);
  ops_.matmul(sel, w_.lm_head, Tensor(), out);
}

int64_t Decoder::run(const ForwardBatch& b, KvCache& kv) {
  const int32_t t = b.num_tokens();
  const int64_t rows = int64_t(b.logits_indices.size());
  DS_CHECK(t > 0 && t <= max_tokens_) << "tokens " << t << " max " << max_tokens_;
  DS_CHECK(rows <= max_logit_rows_) << "logit rows " << rows << " max " << max_logit_rows_;
  if (graph_.mode != GraphMode::kOff && b.max_blocks_per_seq <= graph_.max_blocks_per_seq && is_uniform_decode(b)) {
    if (const int32_t size = graph_batch_size_for(graph_sizes_, t); size > 0) return run_graph_batch(b, size, kv);
  }
  upload_metadata(b);
  AttentionBatch ab = attn_;
  ab.block_size = kv.block_size();
  body(t, rows, ab, kv);
  return rows;
}

void Decoder::copy_logits_to_host(int64_t rows, std::vector<float>& logits) {
  logits.resize(size_t(rows * cfg_.vocab_size));
  if (rows == 0) return;
  be_.copy_to_host(logits.data(), bufs_[kLogits]->data(), logits.size() * sizeof(float));
}

void Decoder::forward(const ForwardBatch& b, KvCache& kv, std::vector<float>& logits) {
  copy_logits_to_host(run(b, kv), logits);
}

Tensor Decoder::forward_device(const ForwardBatch& b, KvCache& kv) {
  return act(kLogits, run(b, kv), cfg_.vocab_size);
}

// ---- graphs ----

void Decoder::set_graphs(const GraphOptions& o) {
  drop_graphs();
  graph_inputs_.reset();
  for (auto& st : staging_) st.reset();
  graph_ = o;
  if (graph_.mode == GraphMode::kCapture && !be_.supports_graphs()) graph_.mode = GraphMode::kOff;
  graph_sizes_.clear();
  if (graph_.mode == GraphMode::kOff) return;
  DS_CHECK(o.max_blocks_per_seq >= 1 && o.max_batch >= 1) << o.max_batch << " " << o.max_blocks_per_seq;
  graph_sizes_ = graph_batch_sizes(std::min({o.max_batch, max_tokens_, max_logit_rows_}));
  const int32_t max_size = graph_sizes_.back();
  const int64_t head = GraphHead{max_size}.ints();
  graph_tables_offset_ = (head + 63) / 64 * 64;
  const int64_t table_ints = int64_t(max_size) * o.max_blocks_per_seq;
  graph_inputs_ = be_.alloc(size_t(graph_tables_offset_ + table_ints) * 4);
  for (auto& s : staging_) s = be_.alloc_host(size_t(graph_tables_offset_ + table_ints) * 4);
}

void Decoder::point_at_graph_inputs(int32_t size, AttentionBatch& ab, int32_t block_size) {
  const GraphHead g{size};
  const int32_t* base = static_cast<const int32_t*>(graph_inputs_->data());
  d_tokens_ = base + g.tokens();
  d_positions_ = base + g.positions();
  d_slots_ = base + g.slots();
  d_logit_rows_ = base + g.logit_rows();
  ab.num_seqs = size;
  ab.query_start_loc = base + g.query_start_loc();
  ab.seq_lens = base + g.seq_lens();
  ab.block_tables = base + graph_tables_offset_;
  ab.max_blocks_per_seq = graph_.max_blocks_per_seq;
  ab.block_size = block_size;
}

int64_t Decoder::run_graph_batch(const ForwardBatch& b, int32_t size, KvCache& kv) {
  // Pack into the staging buffer not used by the previous step (its copy may still be queued).
  DeviceBuffer& stage = *staging_[staging_next_];
  staging_next_ ^= 1;
  int32_t* head = static_cast<int32_t*>(stage.data());
  int32_t* tables = head + graph_tables_offset_;
  const int32_t cols = graph_table_cols(b);
  pack_graph_inputs(b, size, head, tables);
  uint8_t* dev = static_cast<uint8_t*>(graph_inputs_->data());
  const size_t head_bytes = size_t(GraphHead{size}.ints()) * 4, stride_bytes = size_t(graph_.max_blocks_per_seq) * 4;
  be_.copy_to_device_2d_async(dev, head_bytes, head, head_bytes, head_bytes, 1);
  be_.copy_to_device_2d_async(dev + graph_tables_offset_ * 4, stride_bytes, tables, size_t(cols) * 4, size_t(cols) * 4,
                              size_t(size));
  AttentionBatch ab{};
  point_at_graph_inputs(size, ab, kv.block_size());
  if (graph_.mode == GraphMode::kCapture) {
    const void* kv_id = kv.k(0).data;
    DS_CHECK(!graph_kv_ || graph_kv_ == kv_id) << "graphs were recorded against another KV cache";
    graph_kv_ = kv_id;
    be_.run_graph(graph_key(size), [&] { body(size, size, ab, kv); });
  } else {
    body(size, size, ab, kv);
  }
  return b.num_seqs();  // the first rows of the logits buffer; pad rows are never copied out
}

int32_t Decoder::capture_graphs(KvCache& kv, bool only_largest) {
  if (graph_.mode != GraphMode::kCapture) return 0;
  int32_t n = 0;
  for (auto it = graph_sizes_.rbegin(); it != graph_sizes_.rend(); ++it) {
    const int32_t size = *it;
    // Padding rows only: no KV write, every read from block 0.
    ForwardBatch pad;
    pad.token_ids = {0};
    pad.positions = {0};
    pad.slot_mapping = {-1};
    pad.query_start_loc = {0, 1};
    pad.seq_lens = {1};
    pad.block_tables = {0};
    pad.max_blocks_per_seq = 1;
    pad.logits_indices = {0};
    const GraphMode mode = graph_.mode;
    graph_.mode = GraphMode::kPadOnly;  // warm-up: cuBLASLt plans and kernel loading happen outside capture
    run_graph_batch(pad, size, kv);
    graph_.mode = mode;
    run_graph_batch(pad, size, kv);  // records, then replays once
    be_.synchronize();               // the staging buffers are reused two calls later
    ++n;
    if (only_largest) break;
  }
  be_.synchronize();
  return n;
}

void Decoder::profile_forward(KvCache& kv) {
  const int32_t t = max_tokens_;
  ForwardBatch b;
  for (int32_t i = 0; i < t; ++i) {
    b.token_ids.push_back(0);
    b.positions.push_back(i);
    b.slot_mapping.push_back(-1);
  }
  b.query_start_loc = {0, t};
  b.seq_lens = {t};
  b.max_blocks_per_seq = (t + kv.block_size() - 1) / kv.block_size();
  b.block_tables.assign(size_t(b.max_blocks_per_seq), 0);
  b.logits_indices.push_back(t - 1);
  const GraphMode mode = graph_.mode;
  graph_.mode = GraphMode::kOff;
  run(b, kv);
  graph_.mode = mode;
  be_.synchronize();
}

}  // namespace ds
