// Scheduler unit tests with a real BlockManager and Sequences (no model): admit, form_batch and
// swap_in on their own, then a randomized simulation checking the budgets, decode-first order,
// FCFS admission, liveness (no starvation) and the block accounting after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "engine/scheduler.h"

namespace ds {
namespace {

struct Harness {
  BlockManager bm;
  Scheduler sched;
  std::vector<std::unique_ptr<Sequence>> seqs;
  uint64_t next_arrival = 0;

  Harness(int32_t num_blocks, SchedulerConfig cfg, bool prefix_caching = false, int32_t block_size = 16)
      : bm(num_blocks, block_size, prefix_caching), sched(with_defaults(cfg), bm) {}

  static SchedulerConfig with_defaults(SchedulerConfig c) {
    if (c.kv_bytes_per_block == 0) c.kv_bytes_per_block = 100;
    c.max_num_seqs = std::min(c.max_num_seqs, c.max_num_batched_tokens);
    return c;
  }

  Sequence* make(std::vector<int32_t> prompt, int32_t max_tokens = 16, int32_t priority = 0) {
    auto st = std::make_shared<RequestState>();
    st->request.request_id = "r" + std::to_string(next_arrival);
    st->request.prompt_ids = std::move(prompt);
    st->request.params.max_tokens = max_tokens;
    st->request.priority = priority;
    st->arrival = next_arrival++;
    st->num_unfinished = 1;
    seqs.push_back(std::make_unique<Sequence>(st, 0, 0, nullptr));
    return seqs.back().get();
  }
  Sequence* add(int32_t prompt_len, int32_t max_tokens = 16, int32_t priority = 0, int32_t first_token = 1000) {
    std::vector<int32_t> p(static_cast<size_t>(prompt_len));
    for (int32_t i = 0; i < prompt_len; ++i) p[size_t(i)] = first_token + i;
    Sequence* s = make(std::move(p), max_tokens, priority);
    sched.add_waiting(s);
    return s;
  }

  // What the engine does after a forward: progress, prefix-cache registration, one sampled token.
  void process(const SchedulerOutput& out) {
    for (const SwapOp& op : out.swap_in) op.seq->swapped_kv().clear();
    for (const ScheduledSeq& s : out.seqs) {
      s.seq->computed(s.num_new_tokens);
      bm.mark_computed(s.seq->block_table(), s.seq->token_ids(), s.seq->num_computed_tokens());
      if (!s.sample) continue;
      SampledToken t;
      t.id = 7 + s.seq->num_tokens() % 13;
      s.seq->append_token(t);
      if (s.seq->num_output_tokens() >= s.seq->params().max_tokens) {
        sched.remove(s.seq);
        s.seq->finish(FinishReason::kLength);
      }
    }
  }
};

int32_t blocks_for(int32_t tokens) { return (tokens + 15) / 16; }

// ---------------------------------------------------------------- admit

TEST(SchedulerAdmit, FcfsWithinSeatsAndBudget) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 2;
  cfg.max_num_batched_tokens = 100;
  Harness h(64, cfg);
  Sequence* a = h.add(30);
  Sequence* b = h.add(30);
  Sequence* c = h.add(30);
  SchedulerOutput out;
  int32_t budget = 100;
  h.sched.admit(out, budget);
  ASSERT_EQ(out.seqs.size(), 2u);
  EXPECT_EQ(out.seqs[0].seq, a);
  EXPECT_EQ(out.seqs[1].seq, b);
  EXPECT_EQ(out.seqs[0].num_new_tokens, 30);
  EXPECT_TRUE(out.seqs[0].sample);
  EXPECT_EQ(budget, 40);
  EXPECT_EQ(c->status(), SeqStatus::kWaiting);
  EXPECT_EQ(a->status(), SeqStatus::kRunning);
  EXPECT_EQ(int32_t(a->block_table().size()), blocks_for(30));
  EXPECT_EQ(h.sched.num_running(), 2u);
  EXPECT_EQ(h.sched.num_waiting(), 1u);
}

TEST(SchedulerAdmit, ChunksTheLastPromptToTheBudget) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 40;
  Harness h(64, cfg);
  h.add(30);
  Sequence* b = h.add(30);
  SchedulerOutput out;
  int32_t budget = 40;
  h.sched.admit(out, budget);
  ASSERT_EQ(out.seqs.size(), 2u);
  EXPECT_EQ(out.seqs[1].seq, b);
  EXPECT_EQ(out.seqs[1].num_new_tokens, 10);
  EXPECT_FALSE(out.seqs[1].sample);
  EXPECT_EQ(int32_t(b->block_table().size()), 1);  // blocks for the chunk only
  EXPECT_EQ(budget, 0);
}

TEST(SchedulerAdmit, StopsWhenBlocksRunOutWithoutSkippingAhead) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 200;
  Harness h(3, cfg);  // 48 tokens
  Sequence* a = h.add(40);
  Sequence* b = h.add(20);
  Sequence* c = h.add(1);  // would fit, but FCFS does not let it pass b
  SchedulerOutput out;
  int32_t budget = 200;
  h.sched.admit(out, budget);
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].seq, a);
  EXPECT_EQ(b->status(), SeqStatus::kWaiting);
  EXPECT_EQ(c->status(), SeqStatus::kWaiting);
  EXPECT_TRUE(b->block_table().empty());
  EXPECT_EQ(h.bm.num_free_blocks(), 0);
}

TEST(SchedulerAdmit, PriorityPolicyAdmitsLowestValueFirst) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 2;
  cfg.max_num_batched_tokens = 100;
  cfg.priority_policy = true;
  Harness h(64, cfg);
  h.add(10, 16, 5);
  Sequence* b = h.add(10, 16, 1);
  Sequence* c = h.add(10, 16, 3);
  Sequence* d = h.add(10, 16, 1);  // same priority as b, later: after b
  SchedulerOutput out;
  int32_t budget = 100;
  h.sched.admit(out, budget);
  ASSERT_EQ(out.seqs.size(), 2u);
  EXPECT_EQ(out.seqs[0].seq, b);
  EXPECT_EQ(out.seqs[1].seq, d);
  EXPECT_EQ(c->status(), SeqStatus::kWaiting);
}

TEST(SchedulerAdmit, PrefixCacheHitsSkipComputedTokens) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 256;
  Harness h(64, cfg, /*prefix_caching=*/true);
  Sequence* a = h.add(40);
  h.process(h.sched.schedule());
  Sequence* b = h.add(50);  // same first 40 tokens (first_token 1000..)
  SchedulerOutput out;
  int32_t budget = 256;
  h.sched.admit(out, budget);
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].seq, b);
  EXPECT_EQ(b->num_computed_tokens(), 32);  // two full cached blocks
  EXPECT_EQ(out.seqs[0].num_new_tokens, 18);
  EXPECT_EQ(b->block_table()[0], a->block_table()[0]);
  EXPECT_EQ(h.bm.ref_count(a->block_table()[0]), 2);
}

// ---------------------------------------------------------------- form_batch

TEST(SchedulerFormBatch, DecodesBeforePrefillChunks) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 20;
  Harness h(64, cfg);
  Sequence* a = h.add(100);  // older, long prompt: chunked
  h.process(h.sched.schedule());
  EXPECT_EQ(a->num_computed_tokens(), 20);
  Sequence* b = h.add(5);
  SchedulerOutput first = h.sched.schedule();  // a's chunk (20), nothing left for b
  ASSERT_EQ(first.seqs.size(), 1u);
  h.process(first);
  // Let b in: give a the budget only after b is admitted by running admit() with a fresh budget.
  SchedulerOutput adm;
  int32_t budget = 20;
  h.sched.admit(adm, budget);
  ASSERT_EQ(adm.seqs.size(), 1u);
  h.process(adm);  // b computed its prompt and sampled: now a decode
  ASSERT_EQ(b->num_uncomputed_tokens(), 1);
  SchedulerOutput out;
  budget = 20;
  h.sched.form_batch(out, budget);
  ASSERT_EQ(out.seqs.size(), 2u);
  EXPECT_EQ(out.seqs[0].seq, b);  // the decode first, although a arrived earlier
  EXPECT_EQ(out.seqs[0].num_new_tokens, 1);
  EXPECT_TRUE(out.seqs[0].sample);
  EXPECT_EQ(out.seqs[1].seq, a);
  EXPECT_EQ(out.seqs[1].num_new_tokens, 19);  // the chunk takes what the decode left
  EXPECT_FALSE(out.seqs[1].sample);
  EXPECT_EQ(budget, 0);
}

// Three 16-token prompts fill three blocks; each needs a second block for its first decode.
struct Full {
  Harness h;
  Sequence *a, *b, *c;
  Full(SchedulerConfig cfg, int32_t pa, int32_t pb, int32_t pc) : h(3, cfg) {
    a = h.add(16, 16, pa, 100);
    b = h.add(16, 16, pb, 200);
    c = h.add(16, 16, pc, 300);
    h.process(h.sched.schedule());
    EXPECT_EQ(h.bm.num_free_blocks(), 0);
  }
};

TEST(SchedulerFormBatch, FcfsPreemptsNewestAndFreesItsBlocks) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Full f(cfg, 0, 0, 0);
  SchedulerOutput out;
  int32_t budget = 64;
  f.h.sched.form_batch(out, budget);
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].seq, f.a);  // a takes c's block; b then has none and yields itself
  EXPECT_EQ(out.num_preempted, 2);
  EXPECT_EQ(f.h.sched.num_preemptions(), 2);
  EXPECT_EQ(f.c->status(), SeqStatus::kWaiting);
  EXPECT_EQ(f.b->status(), SeqStatus::kWaiting);
  EXPECT_TRUE(f.c->block_table().empty());
  EXPECT_TRUE(f.b->block_table().empty());
  EXPECT_EQ(f.c->num_computed_tokens(), 0);
  EXPECT_EQ(f.b->num_tokens(), 17);  // tokens are kept for recompute
  EXPECT_EQ(f.a->block_table().size(), 2u);
  EXPECT_EQ(f.h.bm.num_free_blocks(), 1);
  EXPECT_EQ(f.h.sched.num_running(), 1u);
  EXPECT_EQ(f.h.sched.num_waiting(), 2u);
  // Re-admission order: b (older) before c.
  f.h.process(out);
  f.h.sched.remove(f.a);
  f.a->finish(FinishReason::kAbort);
  SchedulerOutput next = f.h.sched.schedule();
  ASSERT_GE(next.seqs.size(), 1u);
  EXPECT_EQ(next.seqs[0].seq, f.b);
}

TEST(SchedulerFormBatch, PriorityPreemptsHighestValue) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  cfg.priority_policy = true;
  Full f(cfg, /*a*/ 2, /*b*/ 0, /*c*/ 1);  // scheduling order b, c, a
  SchedulerOutput out;
  int32_t budget = 64;
  f.h.sched.form_batch(out, budget);
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].seq, f.b);
  EXPECT_EQ(f.a->status(), SeqStatus::kWaiting);  // the oldest, but the highest value: first victim
  EXPECT_EQ(f.c->status(), SeqStatus::kWaiting);
  EXPECT_EQ(out.num_preempted, 2);
}

TEST(SchedulerFormBatch, NeverMoreThanMaxNumSeqs) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 2;
  cfg.max_num_batched_tokens = 64;
  Harness h(64, cfg);
  Sequence* a = h.add(10);
  h.process(h.sched.schedule());
  // n > 1 children join running outside admit().
  for (int i = 0; i < 2; ++i) {
    Sequence* child = h.make(a->prompt_ids().size() ? std::vector<int32_t>(a->prompt_ids().begin(), a->prompt_ids().end()) : std::vector<int32_t>{});
    h.bm.fork(a->block_table(), child->block_table());
    child->admit(a->num_computed_tokens() - 1);
    h.sched.add_running(child);
  }
  SchedulerOutput out;
  int32_t budget = 64;
  h.sched.form_batch(out, budget);
  EXPECT_EQ(out.seqs.size(), 2u);
}

// ---------------------------------------------------------------- swap_in

TEST(SchedulerSwap, SwapOutThenSwapInRestoresSameBlockCount) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  cfg.preemption_mode = PreemptionMode::kSwap;
  cfg.swap_space_bytes = 1000;
  Full f(cfg, 0, 0, 0);
  SchedulerOutput out;
  int32_t budget = 64;
  f.h.sched.form_batch(out, budget);
  ASSERT_EQ(out.swap_out.size(), 2u);
  EXPECT_EQ(out.swap_out[0].seq, f.c);
  EXPECT_EQ(out.swap_out[0].blocks.size(), 1u);
  EXPECT_EQ(f.c->status(), SeqStatus::kSwapped);
  EXPECT_EQ(f.c->swapped_kv().size(), 100u);
  EXPECT_TRUE(f.c->block_table().empty());
  EXPECT_EQ(f.h.sched.num_swapped(), 2u);
  f.h.process(out);
  f.h.sched.remove(f.a);
  f.a->finish(FinishReason::kAbort);
  ASSERT_EQ(f.h.bm.num_free_blocks(), 3);

  SchedulerOutput in;
  budget = 64;
  f.h.sched.swap_in(in, budget);
  // FCFS: b (older) comes back first; c (needs 2 blocks, 1 left) stays swapped.
  ASSERT_EQ(in.swap_in.size(), 1u);
  EXPECT_EQ(in.swap_in[0].seq, f.b);
  EXPECT_EQ(f.c->status(), SeqStatus::kSwapped);
  EXPECT_EQ(in.swap_in[0].blocks.size(), 1u);  // the blocks that hold its 16 computed tokens
  EXPECT_EQ(f.b->status(), SeqStatus::kRunning);
  EXPECT_EQ(f.b->num_computed_tokens(), 16);  // KV restored, not recomputed
  ASSERT_EQ(in.seqs.size(), 1u);
  EXPECT_EQ(in.seqs[0].num_new_tokens, 1);
  EXPECT_TRUE(in.seqs[0].sample);
  EXPECT_EQ(f.b->block_table().size(), 2u);  // + the block its next token goes into
  EXPECT_EQ(f.h.sched.num_swapped(), 1u);
}

TEST(SchedulerSwap, FallsBackToRecomputeWithoutSwapSpace) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  cfg.preemption_mode = PreemptionMode::kSwap;
  cfg.swap_space_bytes = 150;  // room for one block
  Full f(cfg, 0, 0, 0);
  SchedulerOutput out;
  int32_t budget = 64;
  f.h.sched.form_batch(out, budget);
  EXPECT_EQ(out.swap_out.size(), 1u);
  EXPECT_EQ(f.c->status(), SeqStatus::kSwapped);
  EXPECT_EQ(f.b->status(), SeqStatus::kWaiting);
  EXPECT_EQ(f.b->num_computed_tokens(), 0);
}

TEST(SchedulerSwap, SwapInWaitsForBlocks) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  cfg.preemption_mode = PreemptionMode::kSwap;
  cfg.swap_space_bytes = 1000;
  Full f(cfg, 0, 0, 0);
  SchedulerOutput out;
  int32_t budget = 64;
  f.h.sched.form_batch(out, budget);
  f.h.process(out);  // a holds 2 blocks, 1 free: b needs 2 (16 computed + 1 new)
  SchedulerOutput in;
  budget = 64;
  f.h.sched.swap_in(in, budget);
  EXPECT_TRUE(in.swap_in.empty());
  EXPECT_EQ(f.h.sched.num_swapped(), 2u);
  EXPECT_EQ(f.h.bm.num_free_blocks(), 1);
}

// ---------------------------------------------------------------- randomized simulation

struct SimParams {
  uint32_t seed;
  PreemptionMode mode;
  bool prefix_caching;
  bool priority;
};

void simulate(const SimParams& sp) {
  SCOPED_TRACE("seed " + std::to_string(sp.seed) + (sp.mode == PreemptionMode::kSwap ? " swap" : " recompute") +
               (sp.prefix_caching ? " caching" : "") + (sp.priority ? " priority" : ""));
  std::mt19937 rng(sp.seed);
  SchedulerConfig cfg;
  cfg.max_num_seqs = 6;
  cfg.max_num_batched_tokens = 32;
  cfg.preemption_mode = sp.mode;
  cfg.priority_policy = sp.priority;
  cfg.swap_space_bytes = 100 * 12;
  constexpr int32_t kBlocks = 24;  // 384 tokens; a sequence holds at most 140 (9 blocks)
  Harness h(kBlocks, cfg, sp.prefix_caching);
  constexpr int kRequests = 60;
  int added = 0;
  std::map<Sequence*, int> idle_steps;
  std::vector<uint64_t> admitted_arrivals;  // first admission of each sequence, in order
  std::set<Sequence*> ever_admitted;
  int64_t preemptions = 0;
  const int kMaxSteps = 20000;
  int step = 0;
  for (; step < kMaxSteps; ++step) {
    // New arrivals now and then (shared prefixes: first_token from a small set).
    if (added < kRequests && std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
      const int32_t len = std::uniform_int_distribution<int32_t>(1, 100)(rng);
      const int32_t out = std::uniform_int_distribution<int32_t>(1, 40)(rng);
      const int32_t prio = std::uniform_int_distribution<int32_t>(0, 3)(rng);
      h.add(len, out, prio, 1000 * std::uniform_int_distribution<int32_t>(1, 3)(rng));
      ++added;
    }
    std::map<Sequence*, SeqStatus> before;
    std::set<Sequence*> decodes;
    for (auto& s : h.seqs) {
      before[s.get()] = s->status();
      if (s->status() == SeqStatus::kRunning && !s->is_prefill() && s->num_uncomputed_tokens() == 1)
        decodes.insert(s.get());
    }
    SchedulerOutput out = h.sched.schedule();
    preemptions += out.num_preempted;

    // Budgets.
    ASSERT_LE(int32_t(out.seqs.size()), cfg.max_num_seqs);
    int32_t tokens = 0;
    std::set<Sequence*> scheduled;
    bool seen_non_decode = false;
    for (const ScheduledSeq& s : out.seqs) {
      ASSERT_GE(s.num_new_tokens, 1);
      ASSERT_TRUE(scheduled.insert(s.seq).second) << "scheduled twice";
      ASSERT_EQ(s.seq->status(), SeqStatus::kRunning);
      ASSERT_GE(int32_t(s.seq->block_table().size()), blocks_for(s.seq->num_computed_tokens() + s.num_new_tokens));
      ASSERT_EQ(s.sample, s.seq->num_computed_tokens() + s.num_new_tokens == s.seq->num_tokens());
      tokens += s.num_new_tokens;
      const bool was_running = before[s.seq] == SeqStatus::kRunning;
      if (was_running && decodes.count(s.seq)) {
        ASSERT_FALSE(seen_non_decode) << "a decode scheduled after a prefill chunk";
      } else if (was_running) {
        seen_non_decode = true;
      }
    }
    ASSERT_EQ(tokens, out.num_batched_tokens);
    ASSERT_LE(tokens, cfg.max_num_batched_tokens);
    ASSERT_LE(h.sched.num_running(), size_t(cfg.max_num_seqs));

    for (auto& up : h.seqs) {
      Sequence* s = up.get();
      // Running decodes always fit (budget >= max_num_seqs): they run unless preempted.
      if (decodes.count(s) && s->status() == SeqStatus::kRunning) {
        ASSERT_TRUE(scheduled.count(s)) << "decode skipped";
      }
      // Preemption frees blocks.
      if (before[s] == SeqStatus::kRunning && s->status() != SeqStatus::kRunning) {
        ASSERT_TRUE(s->block_table().empty());
      }
      if (s->status() == SeqStatus::kWaiting || s->status() == SeqStatus::kSwapped || s->status() == SeqStatus::kFinished) {
        ASSERT_TRUE(s->block_table().empty());
      }
      if (before[s] == SeqStatus::kWaiting && s->status() == SeqStatus::kRunning && ever_admitted.insert(s).second)
        admitted_arrivals.push_back(s->arrival());
      // Liveness: a running sequence is not left out for long.
      if (s->status() == SeqStatus::kRunning && !scheduled.count(s)) {
        ASSERT_LT(++idle_steps[s], 50) << "running sequence starved";
      } else {
        idle_steps[s] = 0;
      }
    }

    // Block accounting: ref counts equal table memberships; free blocks are in no table.
    std::vector<int32_t> refs(kBlocks, 0);
    for (auto& s : h.seqs)
      for (int32_t b : s->block_table()) ++refs[size_t(b)];
    int32_t free_blocks = 0;
    for (int32_t b = 0; b < kBlocks; ++b) {
      ASSERT_EQ(h.bm.ref_count(b), refs[size_t(b)]) << "block " << b;
      free_blocks += refs[size_t(b)] == 0 ? 1 : 0;
    }
    ASSERT_EQ(free_blocks, h.bm.num_free_blocks());

    h.process(out);
    const bool all_done = std::all_of(h.seqs.begin(), h.seqs.end(), [](auto& s) { return s->status() == SeqStatus::kFinished; });
    if (added == kRequests && all_done) break;
    if (out.empty() && out.swap_out.empty()) {
      // Nothing ran: only allowed when nothing is left to run.
      ASSERT_EQ(h.sched.num_running() + h.sched.num_waiting() + h.sched.num_swapped(), 0u) << "stalled at step " << step;
    }
  }
  ASSERT_LT(step, kMaxSteps) << "requests did not finish";
  for (auto& s : h.seqs) {
    EXPECT_EQ(s->status(), SeqStatus::kFinished);
    EXPECT_EQ(s->num_output_tokens(), s->params().max_tokens);
  }
  EXPECT_EQ(h.bm.num_free_blocks(), kBlocks);
  for (int32_t b = 0; b < kBlocks; ++b) EXPECT_EQ(h.bm.ref_count(b), 0);
  EXPECT_GT(preemptions, 0) << "the simulation should exercise preemption";
  if (!sp.priority) {
    EXPECT_TRUE(std::is_sorted(admitted_arrivals.begin(), admitted_arrivals.end())) << "FCFS admission order";
  }
  EXPECT_EQ(admitted_arrivals.size(), size_t(kRequests));
}

TEST(SchedulerSimulation, RandomizedBudgetsLivenessAndBlocks) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    for (PreemptionMode mode : {PreemptionMode::kRecompute, PreemptionMode::kSwap}) {
      for (bool caching : {false, true}) {
        for (bool priority : {false, true}) {
          simulate({seed, mode, caching, priority});
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ds
