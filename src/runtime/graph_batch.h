#pragma once
// Decode batches in graph form: the batch sizes the Decoder records as graphs, and the padded,
// fixed-layout int32 inputs a recorded graph reads. Pure functions (tested on the CPU).
//
// A graph of size S reads one "head" of 6*S+1 int32 at fixed device addresses,
//   [tokens S | positions S | slots S | logit_rows S | query_start_loc S+1 | seq_lens S],
// and block tables [S, stride] with a fixed row stride (blocks of max_model_len). Live rows come first;
// pad rows (n..S-1) have token 0, position 0, slot -1 (no KV write), seq_len 1 and a block table of
// zeros (they read block 0, which always exists, and touch no live row), and their logits row is
// their own token row (computed, never copied out).
#include <cstdint>
#include <vector>

#include "runtime/forward_batch.h"

namespace ds {

// 1, 2, 4, 8, then every multiple of 8 up to min(max_batch, 256); min(max_batch, 256) itself when it
// is not in that list. Empty when max_batch < 1.
std::vector<int32_t> graph_batch_sizes(int32_t max_batch);

// The smallest size in `sizes` (ascending) that holds n rows; 0 when none does.
int32_t graph_batch_size_for(const std::vector<int32_t>& sizes, int32_t n);

// Decode-only: every sequence has exactly one new token and every token's logits are wanted, in order.
bool is_uniform_decode(const ForwardBatch& b);

// Offsets (in int32) of the head's parts for size S.
struct GraphHead {
  int32_t size;
  int32_t tokens() const { return 0; }
  int32_t positions() const { return size; }
  int32_t slots() const { return 2 * size; }
  int32_t logit_rows() const { return 3 * size; }
  int32_t query_start_loc() const { return 4 * size; }
  int32_t seq_lens() const { return 5 * size + 1; }
  int32_t ints() const { return 6 * size + 1; }
};

// Writes the padded head of decode batch `b` (is_uniform_decode, b.num_seqs() <= size) into
// head[0 .. 6*size+1) and its block tables compactly into tables[size, b.max_blocks_per_seq]
// (rows of max(1, b.max_blocks_per_seq) ints; pad rows zero).
void pack_graph_inputs(const ForwardBatch& b, int32_t size, int32_t* head, int32_t* tables);

// Column count of pack_graph_inputs' compact tables.
inline int32_t graph_table_cols(const ForwardBatch& b) { return b.max_blocks_per_seq > 0 ? b.max_blocks_per_seq : 1; }

// The padded batch as an ordinary ForwardBatch (block tables of `stride` columns): what a graph of
// `size` computes, for running the same shapes without graphs and for tests.
ForwardBatch pad_decode_batch(const ForwardBatch& b, int32_t size, int32_t stride);

}  // namespace ds
