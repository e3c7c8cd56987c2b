// bench_schedule_sim: the steps the engine's Scheduler forms for an offline batch (N prompts of I
// input and O output tokens, submitted at once, no EOS: `dsserve bench throughput`), without a model:
// each step computes its scheduled tokens and appends one token per sampled sequence, as the engine
// does. Prints the steps per cuBLASLt row bucket of the step's token count (the layer GEMMs) and of
// its sampled rows (lm_head), and the step at which a bucket's plan reaches --tune-after calls of one
// layer GEMM shape (cublaslt_matmul.h: MatmulTuning). Host only; used to see which plans an offline
// run makes and how often it calls each (bench/results/cuda_h200_session20.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "backend/cuda/row_bucket.h"
#include "engine/scheduler.h"

namespace {

struct BucketUse {
  int64_t steps = 0, first_step = -1, tune_step = -1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_schedule_sim: the Scheduler's steps for an offline batch, by cuBLASLt row bucket"};
  int32_t prompts = 1000, input_len = 512, output_len = 256, max_seqs = 1024, max_tokens = 16384;
  int32_t blocks = 125079, block_size = 16, layers = 28;
  int64_t tune_after = 256;
  app.add_option("--num-prompts", prompts)->check(CLI::PositiveNumber);
  app.add_option("--input-len", input_len)->check(CLI::PositiveNumber);
  app.add_option("--output-len", output_len)->check(CLI::PositiveNumber);
  app.add_option("--max-num-seqs", max_seqs)->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", max_tokens)->check(CLI::PositiveNumber);
  app.add_option("--num-kv-blocks", blocks, "the H200 7B run's count by default")->check(CLI::PositiveNumber);
  app.add_option("--block-size", block_size)->check(CLI::PositiveNumber);
  app.add_option("--layers", layers, "calls of each layer GEMM shape per step")->check(CLI::PositiveNumber);
  app.add_option("--tune-after", tune_after, "calls after which a plan is tuned")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (max_tokens < max_seqs) {
    std::fprintf(stderr, "bench_schedule_sim: --max-num-batched-tokens must be >= --max-num-seqs\n");
    return 2;
  }

  ds::BlockManager bm(blocks, block_size, /*prefix caching=*/true);
  ds::SchedulerConfig cfg;
  cfg.max_num_seqs = max_seqs;
  cfg.max_num_batched_tokens = max_tokens;
  cfg.kv_bytes_per_block = 1;
  ds::Scheduler sched(cfg, bm);
  std::vector<std::unique_ptr<ds::Sequence>> seqs;
  for (int32_t i = 0; i < prompts; ++i) {
    auto st = std::make_shared<ds::RequestState>();
    st->request.request_id = std::to_string(i);
    for (int32_t j = 0; j < input_len; ++j) st->request.prompt_ids.push_back(1000 + (i * 7919 + j) % 100000);
    st->request.params.max_tokens = output_len;
    st->arrival = uint64_t(i);
    st->num_unfinished = 1;
    seqs.push_back(std::make_unique<ds::Sequence>(st, 0, 0, nullptr));
    sched.add_waiting(seqs.back().get());
  }

  std::map<int64_t, BucketUse> layer_buckets, lm_buckets;
  int64_t steps = 0, tokens = 0;
  const auto count = [&](std::map<int64_t, BucketUse>& m, int64_t rows, int64_t calls_per_step) {
    if (rows == 0) return;
    BucketUse& u = m[ds::cuda::row_bucket(rows)];
    if (u.first_step < 0) u.first_step = steps;
    ++u.steps;
    if (u.tune_step < 0 && u.steps * calls_per_step >= tune_after) u.tune_step = steps;
  };
  for (;;) {
    const ds::SchedulerOutput out = sched.schedule();
    if (out.empty()) break;
    int64_t sampled = 0;
    for (const ds::ScheduledSeq& s : out.seqs) {
      s.seq->computed(s.num_new_tokens);
      bm.mark_computed(s.seq->block_table(), s.seq->token_ids(), s.seq->num_computed_tokens());
      if (!s.sample) continue;
      ++sampled;
      ds::SampledToken t;
      t.id = 7;
      s.seq->append_token(t);
      if (s.seq->num_output_tokens() >= output_len) {
        sched.remove(s.seq);
        s.seq->finish(ds::FinishReason::kLength);
      }
    }
    count(layer_buckets, out.num_batched_tokens, layers);
    count(lm_buckets, sampled, 1);
    tokens += out.num_batched_tokens;
    ++steps;
  }
  std::printf("%lld steps, %lld tokens computed (%d prompts of %d/%d, max_num_seqs %d, max_num_batched_tokens %d)\n",
              (long long)steps, (long long)tokens, prompts, input_len, output_len, max_seqs, max_tokens);
  for (const auto& [name, m] : {std::pair{"layer GEMMs (step tokens)", &layer_buckets},
                                std::pair{"lm_head (sampled rows)", &lm_buckets}}) {
    std::printf("%s: bucket, steps, first step, step of the call that tunes it (--tune-after %lld)\n", name,
                (long long)tune_after);
    if (m == &layer_buckets)
      std::printf("  (the bucket of max_num_batched_tokens, %lld, is tuned at start-up by the profiling forward)\n",
                  (long long)ds::cuda::row_bucket(max_tokens));
    for (const auto& [bucket, u] : *m)
      std::printf("  %6lld %6lld %6lld %6lld\n", (long long)bucket, (long long)u.steps, (long long)u.first_step,
                  (long long)u.tune_step);
  }
  return 0;
}
