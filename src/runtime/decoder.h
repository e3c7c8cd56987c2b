#pragma once
// Decoder: the one generic pre-norm decoder (Qwen2 and Llama, incl. llama3 rope scaling), written
// once against the Ops table. Owns the activation workspace for up to `max_num_tokens` tokens and
// `max_logit_rows` logit rows per forward.
// Weights must live in the backend's memory (runtime/device_weights.h: upload_weights).
// Thread: the owning (engine) thread only.
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/weights.h"
#include "runtime/forward_batch.h"
#include "runtime/kv_cache.h"

namespace ds {

class Decoder {
 public:
  Decoder(const ModelConfig& cfg, const ModelWeights& weights, Backend& backend, int32_t max_num_tokens,
          int32_t max_logit_rows);
  // Runs one forward; writes float32 logits [batch.logits_indices.size(), vocab] to `logits` (host).
  void forward(const ForwardBatch& batch, KvCache& kv, std::vector<float>& logits);
  // The same forward, leaving the logits in the backend's memory: float32 [rows, vocab], valid until
  // the next forward (the engine samples them there, backend/sampling.h).
  Tensor forward_device(const ForwardBatch& batch, KvCache& kv);
  int32_t max_num_tokens() const { return max_tokens_; }
  const ModelConfig& config() const { return cfg_; }

 private:
  DType act_dtype(int which) const;
  Tensor act(int which, int64_t rows, int64_t cols);
  void upload_metadata(const ForwardBatch& b);
  void layer(int64_t l, int32_t t, const AttentionBatch& ab, KvCache& kv);

  // Per layer: q|k|v (+ bias) and gate|up as one matrix each where upload_weights laid them out back
  // to back (device backends; runtime/device_weights.h). Used for single-token forwards, where the
  // fused output's column slices are contiguous views. Undefined on the CPU backend.
  struct FusedLayer {
    Tensor qkv, qkv_bias, gate_up;
  };
  std::vector<FusedLayer> fused_;

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
};

}  // namespace ds
