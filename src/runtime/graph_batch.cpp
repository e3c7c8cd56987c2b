#include "runtime/graph_batch.h"

#include <algorithm>

#include "common/check.h"

namespace ds {

std::vector<int32_t> graph_batch_sizes(int32_t max_batch) {
  const int32_t cap = std::min(max_batch, int32_t(256));
  std::vector<int32_t> s;
  for (int32_t v : {1, 2, 4})
    if (v <= cap) s.push_back(v);
  for (int32_t v = 8; v <= cap; v += 8) s.push_back(v);
  if (cap >= 1 && s.back() != cap) s.push_back(cap);
  return s;
}

int32_t graph_batch_size_for(const std::vector<int32_t>& sizes, int32_t n) {
  auto it = std::lower_bound(sizes.begin(), sizes.end(), n);
  return it == sizes.end() ? 0 : *it;
}

bool is_uniform_decode(const ForwardBatch& b) {
  const int32_t n = b.num_seqs();
  if (n == 0 || b.num_tokens() != n || int32_t(b.logits_indices.size()) != n) return false;
  for (int32_t i = 0; i < n; ++i)
    if (b.logits_indices[size_t(i)] != i || b.query_start_loc[size_t(i) + 1] != i + 1) return false;
  return true;
}

void pack_graph_inputs(const ForwardBatch& b, int32_t size, int32_t* head, int32_t* tables) {
  const int32_t n = b.num_seqs(), cols = graph_table_cols(b);
  DS_CHECK(is_uniform_decode(b) && n <= size) << n << " rows into a graph of " << size;
  const GraphHead g{size};
  for (int32_t i = 0; i < size; ++i) {
    const bool live = i < n;
    head[g.tokens() + i] = live ? b.token_ids[size_t(i)] : 0;
    head[g.positions() + i] = live ? b.positions[size_t(i)] : 0;
    head[g.slots() + i] = live ? b.slot_mapping[size_t(i)] : -1;
    head[g.logit_rows() + i] = i;
    head[g.query_start_loc() + i] = i;
    head[g.seq_lens() + i] = live ? b.seq_lens[size_t(i)] : 1;
    for (int32_t c = 0; c < cols; ++c)
      tables[int64_t(i) * cols + c] = live && c < b.max_blocks_per_seq ? b.block_tables[size_t(i) * size_t(b.max_blocks_per_seq) + size_t(c)] : 0;
  }
  head[g.query_start_loc() + size] = size;
}

ForwardBatch pad_decode_batch(const ForwardBatch& b, int32_t size, int32_t stride) {
  const int32_t cols = graph_table_cols(b);
  DS_CHECK_LE(cols, stride);
  const GraphHead g{size};
  std::vector<int32_t> head(size_t(g.ints())), tables(size_t(size) * size_t(cols));
  pack_graph_inputs(b, size, head.data(), tables.data());
  auto part = [&](int32_t off, int32_t len) { return std::vector<int32_t>(head.begin() + off, head.begin() + off + len); };
  ForwardBatch p;
  p.token_ids = part(g.tokens(), size);
  p.positions = part(g.positions(), size);
  p.slot_mapping = part(g.slots(), size);
  p.logits_indices = part(g.logit_rows(), size);
  p.query_start_loc = part(g.query_start_loc(), size + 1);
  p.seq_lens = part(g.seq_lens(), size);
  p.max_blocks_per_seq = stride;
  p.block_tables.assign(size_t(size) * size_t(stride), 0);
  for (int32_t i = 0; i < size; ++i)
    std::copy_n(tables.begin() + int64_t(i) * cols, cols, p.block_tables.begin() + int64_t(i) * stride);
  return p;
}

}  // namespace ds
