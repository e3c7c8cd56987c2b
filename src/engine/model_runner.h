#pragma once
// ModelRunner: turns a SchedulerOutput into a ForwardBatch (flat token ids, positions,
// slot_mapping, block tables, seq_lens, query_start_loc), runs the decoder and returns one logits
// row per sequence that samples this step. Thread: the engine thread only.
#include <vector>

#include "engine/scheduler.h"
#include "runtime/decoder.h"
#include "runtime/kv_cache.h"

namespace ds {

class ModelRunner {
 public:
  ModelRunner(Decoder& decoder, KvCache& kv) : decoder_(decoder), kv_(kv) {}
  // Returns logits [num sampling seqs, vocab] in the order of `out.seqs` entries with sample=true.
  const std::vector<float>& execute(const SchedulerOutput& out);
  // The same rows left in the backend's memory (float32 [rows, vocab]) for its DeviceSampler.
  Tensor execute_on_device(const SchedulerOutput& out);
  static ForwardBatch build_batch(const SchedulerOutput& out, int32_t block_size);

 private:
  Decoder& decoder_;
  KvCache& kv_;
  std::vector<float> logits_;
};

}  // namespace ds
