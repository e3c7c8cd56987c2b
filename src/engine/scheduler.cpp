#include "engine/scheduler.h"

#include <algorithm>

namespace ds {

Scheduler::Scheduler(const SchedulerConfig& cfg, BlockManager& blocks) : cfg_(cfg), bm_(blocks) {
  DS_CHECK(cfg.max_num_batched_tokens >= cfg.max_num_seqs)
      << "max_num_batched_tokens " << cfg.max_num_batched_tokens << " < max_num_seqs " << cfg.max_num_seqs;
}

bool Scheduler::before(const Sequence* a, const Sequence* b) const {
  if (cfg_.priority_policy && a->priority() != b->priority()) return a->priority() < b->priority();
  if (a->arrival() != b->arrival()) return a->arrival() < b->arrival();
  return a->index() < b->index();
}

void Scheduler::add_waiting(Sequence* seq, bool at_front) {
  if (at_front) {
    waiting_.push_front(seq);
  } else {
    waiting_.push_back(seq);
  }
}

void Scheduler::remove(Sequence* seq) {
  auto drop = [&](auto& q) {
    auto it = std::find(q.begin(), q.end(), seq);
    if (it == q.end()) return false;
    q.erase(it);
    return true;
  };
  if (drop(swapped_)) swap_used_bytes_ -= seq->swapped_kv().size();
  drop(waiting_);
  drop(running_);
  bm_.free(seq->block_table());
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int32_t budget = cfg_.max_num_batched_tokens;
  form_batch(out, budget);
  if (out.num_preempted == 0) {
    swap_in(out, budget);
    if (swapped_.empty()) admit(out, budget);
  }
  out.num_batched_tokens = cfg_.max_num_batched_tokens - budget;
  return out;
}

void Scheduler::form_batch(SchedulerOutput& out, int32_t& budget) {
  std::vector<Sequence*> order = running_;
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return before(a, b); });
  auto is_decode = [](const Sequence* s) { return !s->is_prefill() && s->num_uncomputed_tokens() == 1; };
  // running_ may hold more than max_num_seqs sequences (n > 1 children join it outside admit()),
  // so the seat limit is enforced here too: the decoder has room for max_num_seqs logit rows.
  const auto seats_left = [&] { return int32_t(out.seqs.size()) < cfg_.max_num_seqs; };
  for (bool decodes : {true, false}) {
    for (Sequence* seq : order) {
      if (budget <= 0 || !seats_left()) return;
      if (seq->status() != SeqStatus::kRunning || is_decode(seq) != decodes) continue;
      const bool scheduled = std::any_of(out.seqs.begin(), out.seqs.end(), [&](auto& s) { return s.seq == seq; });
      if (!scheduled) schedule_running(seq, out, budget);
    }
  }
}

// Gives `seq` its next tokens (all remaining, up to the budget), preempting others if blocks run
// out. Returns false when `seq` itself had to be preempted.
bool Scheduler::schedule_running(Sequence* seq, SchedulerOutput& out, int32_t& budget) {
  const int32_t num_new = std::min(seq->num_uncomputed_tokens(), budget);
  const int32_t total = seq->num_computed_tokens() + num_new;
  while (!bm_.can_grow(seq->block_table(), total)) {
    Sequence* victim = pick_victim(out);
    // `seq` itself is unscheduled, so it is a candidate: when it is the last in order it yields.
    if (victim == nullptr || victim == seq || before(victim, seq)) {
      preempt(seq, out);
      return false;
    }
    preempt(victim, out);
  }
  DS_CHECK(bm_.grow(seq->block_table(), total));
  out.seqs.push_back({seq, num_new, total == seq->num_tokens()});
  budget -= num_new;
  return true;
}

// The lowest-priority (latest in scheduling order) running sequence not yet scheduled this step.
Sequence* Scheduler::pick_victim(const SchedulerOutput& out) const {
  Sequence* victim = nullptr;
  for (Sequence* s : running_) {
    const bool scheduled = std::any_of(out.seqs.begin(), out.seqs.end(), [&](auto& x) { return x.seq == s; });
    if (!scheduled && (victim == nullptr || before(victim, s))) victim = s;
  }
  return victim;
}

void Scheduler::preempt(Sequence* victim, SchedulerOutput& out) {
  running_.erase(std::find(running_.begin(), running_.end(), victim));
  const size_t bytes = victim->block_table().size() * cfg_.kv_bytes_per_block;
  ++out.num_preempted;
  ++num_preemptions_;
  if (cfg_.preemption_mode == PreemptionMode::kSwap && swap_used_bytes_ + bytes <= cfg_.swap_space_bytes) {
    out.swap_out.push_back({victim, victim->block_table()});
    victim->swapped_kv().resize(bytes);  // reserved now, filled by the engine before the forward
    swap_used_bytes_ += bytes;
    bm_.free(victim->block_table());
    victim->swap_out();
    // Victims are taken newest first; keep swapped_ in scheduling order so swap_in() is FCFS.
    swapped_.insert(std::upper_bound(swapped_.begin(), swapped_.end(), victim, [&](auto* a, auto* b) { return before(a, b); }),
                    victim);
    return;
  }
  bm_.free(victim->block_table());
  victim->preempt_recompute();
  waiting_.push_front(victim);
}

void Scheduler::swap_in(SchedulerOutput& out, int32_t& budget) {
  while (!swapped_.empty() && int32_t(running_.size()) < cfg_.max_num_seqs && budget > 0) {
    Sequence* seq = swapped_.front();
    BlockTable table;
    const int32_t total = seq->num_computed_tokens() + std::min(seq->num_uncomputed_tokens(), budget);
    if (!bm_.can_grow(table, total)) return;
    bm_.grow(table, seq->num_computed_tokens());
    out.swap_in.push_back({seq, table});
    swap_used_bytes_ -= seq->swapped_kv().size();
    seq->block_table() = std::move(table);
    seq->swap_in();
    swapped_.pop_front();
    running_.push_back(seq);
    DS_CHECK(schedule_running(seq, out, budget));
  }
}

void Scheduler::admit(SchedulerOutput& out, int32_t& budget) {
  while (!waiting_.empty() && int32_t(running_.size()) < cfg_.max_num_seqs && budget > 0) {
    auto it = waiting_.begin();
    if (cfg_.priority_policy) it = std::min_element(waiting_.begin(), waiting_.end(), [&](auto* a, auto* b) { return before(a, b); });
    Sequence* seq = *it;
    const std::vector<int32_t>& tokens = seq->token_ids();
    const int32_t cached = bm_.num_cached_tokens(tokens);
    const int32_t num_new = std::min(seq->num_tokens() - cached, budget);
    const int32_t got = bm_.allocate(seq->block_table(), tokens, cached + num_new);
    if (got < 0) return;
    DS_CHECK_EQ(got, cached);
    waiting_.erase(it);
    seq->admit(got);
    if (seq->num_output_tokens() == 0) seq->request_state().usage.cached_tokens += got;
    running_.push_back(seq);
    out.seqs.push_back({seq, num_new, got + num_new == seq->num_tokens()});
    budget -= num_new;
  }
}

}  // namespace ds
