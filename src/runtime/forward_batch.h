#pragma once
// ForwardBatch: everything one forward pass needs, flattened across sequences (vLLM's layout).
// Built on the host by whoever schedules (generator today, the engine's ModelRunner later).
#include <cstdint>
#include <vector>

namespace ds {

struct ForwardBatch {
  std::vector<int32_t> token_ids;        // [num_tokens]
  std::vector<int32_t> positions;        // [num_tokens]
  std::vector<int32_t> slot_mapping;     // [num_tokens] KV slot per token, -1 = do not store
  std::vector<int32_t> query_start_loc;  // [num_seqs + 1]
  std::vector<int32_t> seq_lens;         // [num_seqs] context length including this step's tokens
  std::vector<int32_t> block_tables;     // [num_seqs, max_blocks_per_seq], padded with 0
  int32_t max_blocks_per_seq = 0;
  std::vector<int32_t> logits_indices;   // token rows whose next-token logits are wanted

  int32_t num_tokens() const { return int32_t(token_ids.size()); }
  int32_t num_seqs() const { return int32_t(seq_lens.size()); }
};

}  // namespace ds
