// Decode graphs, CPU side: the captured batch sizes and the bucket a batch pads to, the padded
// fixed-layout inputs, and the padded path through a real Engine (GraphMode::kPadOnly, which runs the
// graph path's shapes eagerly on any backend). The CPU kernels are batch-invariant, so padding rows
// must leave every live row's ids and logprobs bit-identical to the unpadded eager run.
#include "engine_harness.h"
#include "runtime/graph_batch.h"

namespace ds::test {
namespace {

TEST(GraphBatchSizes, PowersThenStepsOfEight) {
  EXPECT_EQ(graph_batch_sizes(1), (std::vector<int32_t>{1}));
  EXPECT_EQ(graph_batch_sizes(3), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(graph_batch_sizes(8), (std::vector<int32_t>{1, 2, 4, 8}));
  EXPECT_EQ(graph_batch_sizes(20), (std::vector<int32_t>{1, 2, 4, 8, 16, 20}));
  EXPECT_EQ(graph_batch_sizes(32), (std::vector<int32_t>{1, 2, 4, 8, 16, 24, 32}));
  const std::vector<int32_t> all = graph_batch_sizes(256);
  EXPECT_EQ(all.size(), 35u);
  EXPECT_EQ(all.back(), 256);
  EXPECT_EQ(graph_batch_sizes(1000), all);  // capped at 256
  EXPECT_TRUE(graph_batch_sizes(0).empty());
}

TEST(GraphBatchSizes, NextCapturedSize) {
  const std::vector<int32_t> s = graph_batch_sizes(64);
  EXPECT_EQ(graph_batch_size_for(s, 1), 1);
  EXPECT_EQ(graph_batch_size_for(s, 3), 4);
  EXPECT_EQ(graph_batch_size_for(s, 5), 8);
  EXPECT_EQ(graph_batch_size_for(s, 8), 8);
  EXPECT_EQ(graph_batch_size_for(s, 17), 24);
  EXPECT_EQ(graph_batch_size_for(s, 64), 64);
  EXPECT_EQ(graph_batch_size_for(s, 65), 0);  // larger than any graph: eager
}

ForwardBatch decode_batch() {  // 3 sequences, block size 4: contexts 5, 9, 2
  ForwardBatch b;
  b.token_ids = {11, 22, 33};
  b.positions = {4, 8, 1};
  b.slot_mapping = {4 * 7 + 0, 4 * 9 + 0, 4 * 2 + 1};
  b.query_start_loc = {0, 1, 2, 3};
  b.seq_lens = {5, 9, 2};
  b.max_blocks_per_seq = 3;
  b.block_tables = {3, 7, 0, 5, 6, 9, 2, 0, 0};
  b.logits_indices = {0, 1, 2};
  return b;
}

TEST(GraphBatch, UniformDecodeOnly) {
  ForwardBatch b = decode_batch();
  EXPECT_TRUE(is_uniform_decode(b));
  ForwardBatch prefill = b;  // second sequence has 2 new tokens
  prefill.token_ids.push_back(44);
  prefill.positions.push_back(9);
  prefill.slot_mapping.push_back(1);
  prefill.query_start_loc = {0, 1, 3, 4};
  prefill.logits_indices = {0, 2, 3};
  EXPECT_FALSE(is_uniform_decode(prefill));
  ForwardBatch no_sample = b;  // a sequence that samples nothing
  no_sample.logits_indices = {0, 2};
  EXPECT_FALSE(is_uniform_decode(no_sample));
}

TEST(GraphBatch, PaddedLayout) {
  const ForwardBatch p = pad_decode_batch(decode_batch(), 4, 6);
  EXPECT_EQ(p.token_ids, (std::vector<int32_t>{11, 22, 33, 0}));
  EXPECT_EQ(p.positions, (std::vector<int32_t>{4, 8, 1, 0}));
  EXPECT_EQ(p.slot_mapping, (std::vector<int32_t>{28, 36, 9, -1}));
  EXPECT_EQ(p.query_start_loc, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.seq_lens, (std::vector<int32_t>{5, 9, 2, 1}));
  EXPECT_EQ(p.logits_indices, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(p.max_blocks_per_seq, 6);
  EXPECT_EQ(p.block_tables, (std::vector<int32_t>{3, 7, 0, 0, 0, 0,  //
                                                  5, 6, 9, 0, 0, 0,  //
                                                  2, 0, 0, 0, 0, 0,  //
                                                  0, 0, 0, 0, 0, 0}));
  // The head as the graph reads it.
  const GraphHead g{4};
  std::vector<int32_t> head(size_t(g.ints())), tables(4 * 3);
  pack_graph_inputs(decode_batch(), 4, head.data(), tables.data());
  EXPECT_EQ(head[size_t(g.seq_lens()) + 3], 1);
  EXPECT_EQ(head[size_t(g.query_start_loc()) + 4], 4);
  EXPECT_EQ(tables, (std::vector<int32_t>{3, 7, 0, 5, 6, 9, 2, 0, 0, 0, 0, 0}));
}

// Live counts that pad (3 -> 4, 5 -> 8, 17 -> 24) and shrink through several sizes as requests
// finish; prompts of different lengths, decodes crossing block boundaries (block size 16).
std::vector<EngineRequest> padded_workload(int32_t n) {
  std::vector<EngineRequest> reqs;
  for (int32_t i = 0; i < n; ++i)
    reqs.push_back(greedy_request("r" + std::to_string(i), random_prompt(100 + uint32_t(i), 3 + 7 * i % 41), 6 + (5 * i) % 23));
  return reqs;
}

TEST(GraphBatch, PaddedDecodeMatchesEagerOnCpu) {
  const LoadedModel& m = test_model("qwen2");
  for (int32_t n : {3, 5, 17}) {
    SCOPED_TRACE("live sequences " + std::to_string(n));
    EngineConfig eager = small_engine_config();
    eager.graph_mode = GraphMode::kOff;
    EngineConfig padded = small_engine_config();
    padded.graph_mode = GraphMode::kPadOnly;
    padded.scheduler.max_num_seqs = 32;
    const RunResult a = run_requests(m, eager, padded_workload(n));
    const RunResult b = run_requests(m, padded, padded_workload(n));
    ASSERT_EQ(a.outputs.size(), b.outputs.size());
    for (size_t i = 0; i < a.outputs.size(); ++i) {
      EXPECT_EQ(a.outputs[i].ids, b.outputs[i].ids) << "request " << i;
      EXPECT_EQ(a.outputs[i].logprobs, b.outputs[i].logprobs) << "request " << i;
    }
  }
}

}  // namespace
}  // namespace ds::test
