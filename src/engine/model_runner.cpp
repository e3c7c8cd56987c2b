#include "engine/model_runner.h"

#include <algorithm>

namespace ds {

ForwardBatch ModelRunner::build_batch(const SchedulerOutput& out, int32_t block_size) {
  ForwardBatch b;
  b.query_start_loc.push_back(0);
  for (const ScheduledSeq& s : out.seqs) b.max_blocks_per_seq = std::max(b.max_blocks_per_seq, int32_t(s.seq->block_table().size()));
  for (const ScheduledSeq& s : out.seqs) {
    const Sequence& seq = *s.seq;
    const BlockTable& table = seq.block_table();
    const int32_t begin = seq.num_computed_tokens(), end = begin + s.num_new_tokens;
    for (int32_t p = begin; p < end; ++p) {
      b.token_ids.push_back(seq.token_ids()[size_t(p)]);
      b.positions.push_back(p);
      b.slot_mapping.push_back(table[size_t(p / block_size)] * block_size + p % block_size);
    }
    b.query_start_loc.push_back(b.num_tokens());
    b.seq_lens.push_back(end);
    b.block_tables.insert(b.block_tables.end(), table.begin(), table.end());
    b.block_tables.resize(size_t(b.num_seqs()) * size_t(b.max_blocks_per_seq), 0);
    if (s.sample) b.logits_indices.push_back(b.num_tokens() - 1);
  }
  return b;
}

const std::vector<float>& ModelRunner::execute(const SchedulerOutput& out) {
  decoder_.forward(build_batch(out, kv_.block_size()), kv_, logits_);
  return logits_;
}

Tensor ModelRunner::execute_on_device(const SchedulerOutput& out) {
  return decoder_.forward_device(build_batch(out, kv_.block_size()), kv_);
}

}  // namespace ds
