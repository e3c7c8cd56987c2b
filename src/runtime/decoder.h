#pragma once
// Decoder: the one generic pre-norm decoder (Qwen2 and Llama, incl. llama3 rope scaling), written
// once against the Ops table. Owns the activation workspace for up to `max_num_tokens` tokens and
// `max_logit_rows` logit rows per forward.
// Weights must live in the backend's memory (runtime/device_weights.h: upload_weights).
// Graphs (set_graphs): decode-only batches (runtime/graph_batch.h) are padded to the next recorded
// size and run through Backend::run_graph, reading their inputs from one device buffer at fixed
// addresses that the host fills with an asynchronous copy from page-locked memory just before the
// replay. Everything else (prefill, mixed batches, larger batches) runs eagerly as before.
// Thread: the owning (engine) thread only.
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/weights.h"
#include "runtime/forward_batch.h"
#include "runtime/kv_cache.h"

namespace ds {

// kOff: every forward eager (--enforce-eager). kPadOnly: decode batches take the graph path's
// shapes and inputs (padding, fixed block-table stride) but run eagerly; works on every backend (tests
// compare it with kCapture bit for bit). kCapture: record and replay (backends with graphs only).
enum class GraphMode { kOff, kPadOnly, kCapture };

struct GraphOptions {
  GraphMode mode = GraphMode::kOff;
  int32_t max_batch = 0;           // largest decode batch (max_num_seqs); sizes: graph_batch_sizes()
  int32_t max_blocks_per_seq = 0;  // the fixed block-table stride (blocks of max_model_len)
};

class Decoder {
 public:
  Decoder(const ModelConfig& cfg, const ModelWeights& weights, Backend& backend, int32_t max_num_tokens,
          int32_t max_logit_rows);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Runs one forward; writes float32 logits [batch.logits_indices.size(), vocab] to `logits` (host).
  void forward(const ForwardBatch& batch, KvCache& kv, std::vector<float>& logits);
  // The same forward, leaving the logits in the backend's memory: float32 [rows, vocab], valid until
  // the next forward (the engine samples them there, backend/sampling.h).
  Tensor forward_device(const ForwardBatch& batch, KvCache& kv);
  // The two halves of forward: enqueue the forward (logits stay in device memory) and return the
  // number of logits rows; then copy those rows to the host (blocks until the forward is done).
  int64_t run(const ForwardBatch& batch, KvCache& kv);
  void copy_logits_to_host(int64_t rows, std::vector<float>& logits);

  // Turns the graph path on (kPadOnly/kCapture; kCapture becomes kOff on a backend without graphs)
  // or off (kOff), allocating its fixed input buffers. Drops recorded graphs.
  void set_graphs(const GraphOptions& opts);
  GraphMode graph_mode() const { return graph_.mode; }
  const std::vector<int32_t>& graph_sizes() const { return graph_sizes_; }
  // kCapture: records every size against `kv` now (each after one eager warm-up forward of padding
  // rows only), largest first; `only_largest` records just the largest (memory probing). Returns
  // the number recorded.
  int32_t capture_graphs(KvCache& kv, bool only_largest = false);
  // A forward of max_num_tokens tokens (one sequence, no KV writes, every key read from block 0 of
  // `kv`), synchronized: the largest activation footprint, for memory profiling.
  void profile_forward(KvCache& kv);

  int32_t max_num_tokens() const { return max_tokens_; }
  const ModelConfig& config() const { return cfg_; }

 private:
  DType act_dtype(int which) const;
  Tensor act(int which, int64_t rows, int64_t cols);
  void upload_metadata(const ForwardBatch& b);
  void layer(int64_t l, int32_t t, const AttentionBatch& ab, KvCache& kv);
  // Embedding, layers and the logits projection of `t` tokens / `rows` logits rows, reading the
  // d_* pointers and `ab` as set by the caller.
  void body(int32_t t, int64_t rows, const AttentionBatch& ab, KvCache& kv);
  // Graph path: copies the padded inputs of `b` into the fixed buffer, then replays (or runs) size S.
  int64_t run_graph_batch(const ForwardBatch& b, int32_t size, KvCache& kv);
  void point_at_graph_inputs(int32_t size, AttentionBatch& ab, int32_t block_size);

  // Per layer: q|k|v (+ bias) and gate|up as one matrix each where upload_weights laid them out back
  // to back (device backends; runtime/device_weights.h), used by forwards of any length: q|k|v
  // through qkv_rope_store (which reads the [T, q|k|v] product), gate|up through gate_up_silu (which
  // takes the [T, 2I] product). Undefined on the CPU backend.
  struct FusedLayer {
    Tensor qkv, qkv_bias, gate_up;
  };
  std::vector<FusedLayer> fused_;
  bool row_qkv_rope_ = true;  // layer()'s decode row: q|k|v, rope and the K/V store in one op
  // Every layer has a fused gate|up: forwards of any length run it as one matmul (kGateUp has
  // max_tokens rows, kUp one).
  bool batch_gate_up_ = false;
  // Every layer has a fused q|k|v: forwards of any length run it as one matmul and qkv_rope_store
  // (kQkv has max_tokens rows, kK and kV one).
  bool batch_qkv_ = false;

  const ModelConfig& cfg_;
  const ModelWeights& w_;
  Backend& be_;
  Ops& ops_;
  int32_t max_tokens_, max_logit_rows_;
  std::vector<std::unique_ptr<DeviceBuffer>> bufs_;  // activations, see the enum in decoder.cpp
  std::unique_ptr<DeviceBuffer> meta_;                // int32 metadata for the device
  std::unique_ptr<DeviceBuffer> inv_freq_;
  RopeParams rope_;
  const int32_t* d_tokens_ = nullptr;
  const int32_t* d_positions_ = nullptr;
  const int32_t* d_slots_ = nullptr;
  const int32_t* d_logit_rows_ = nullptr;
  AttentionBatch attn_{};

  GraphOptions graph_;
  std::vector<int32_t> graph_sizes_;
  std::unique_ptr<DeviceBuffer> graph_inputs_;  // device: head (GraphHead of the largest size) + tables
  int64_t graph_tables_offset_ = 0;             // int32 offset of the tables [max_batch, stride]
  std::unique_ptr<DeviceBuffer> staging_[2];    // page-locked host copies of the inputs, alternating
  int staging_next_ = 0;
  const void* graph_kv_ = nullptr;  // KV cache the recorded graphs write (one per decoder)
  void drop_graphs();               // erases this decoder's recordings from the backend
  int64_t graph_key(int32_t size) const { return (int64_t(reinterpret_cast<intptr_t>(this)) << 10) | size; }
};

}  // namespace ds
