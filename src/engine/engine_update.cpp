// Engine: what happens after a forward (sampling, stop conditions, n > 1 forks, streaming) and the
// request lifecycle (add, abort). Engine thread only.
#include <algorithm>

#include "engine/engine.h"

namespace ds {

void Engine::add_request(std::shared_ptr<RequestState> st) {
  const SamplingParams& p = st->request.params;
  st->arrival = next_arrival_++;
  st->num_unfinished = p.n;
  st->usage.prompt_tokens = int32_t(st->request.prompt_ids.size());
  auto& seqs = requests_[st->request.request_id];
  if (!seqs.empty()) {  // duplicate id: refuse rather than mix two requests' outputs
    StreamEvent e;
    e.done = true;
    e.finish_reason = FinishReason::kAbort;
    st->stream->push(std::move(e));
    return;
  }
  for (int32_t i = 0; i < p.n; ++i) {
    const uint64_t seed = p.seed ? *p.seed + uint64_t(i) : seed_rng_();
    seqs.push_back(std::make_unique<Sequence>(st, i, seed, model_.tokenizer.get()));
  }
  scheduler_.add_waiting(seqs[0].get());
  for (int32_t i = 1; i < p.n; ++i) pending_forks_[seqs[0].get()].push_back(seqs[size_t(i)].get());
  stats_.prompt_tokens_total += st->usage.prompt_tokens;
}

void Engine::abort_request(const std::string& id) {
  flush_outputs();  // touched sequences may be this request's: their events go out before they are freed
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  for (auto& seq : it->second) {
    if (seq->status() == SeqStatus::kFinished) continue;
    scheduler_.remove(seq.get());
    seq->finish(FinishReason::kAbort);
    emit(*seq);
  }
  pending_forks_.erase(it->second[0].get());
  requests_.erase(it);
}

// Swap-outs first (their blocks may be handed to others this step), then swap-ins.
void Engine::move_kv(const SchedulerOutput& out) {
  const size_t per_block = kv_.bytes_per_block();
  for (const SwapOp& op : out.swap_out)
    for (size_t i = 0; i < op.blocks.size(); ++i) kv_.copy_block_to_host(op.blocks[i], op.seq->swapped_kv().data() + i * per_block);
  for (const SwapOp& op : out.swap_in) {
    for (size_t i = 0; i < op.blocks.size(); ++i) kv_.copy_block_from_host(op.seq->swapped_kv().data() + i * per_block, op.blocks[i]);
    op.seq->swapped_kv().clear();
    op.seq->swapped_kv().shrink_to_fit();
  }
}

// After the forward: progress, prefix-cache marks and n > 1 forks. Returns who samples from which
// logits row (children first, from their parent's row).
std::vector<Engine::ToSample> Engine::update(const SchedulerOutput& out) {
  std::vector<ToSample> todo;
  int32_t row = 0;
  for (const ScheduledSeq& s : out.seqs) {
    Sequence& seq = *s.seq;
    seq.computed(s.num_new_tokens);
    blocks_.mark_computed(seq.block_table(), seq.token_ids(), seq.num_computed_tokens());
    if (!s.sample) continue;
    auto forks = pending_forks_.find(&seq);
    if (forks != pending_forks_.end() && seq.num_output_tokens() == 0)
      for (Sequence* child : fork_children(seq)) todo.push_back({child, row});
    todo.push_back({&seq, row++});
  }
  return todo;
}

void Engine::sample_on_host(const std::vector<ToSample>& todo, const std::vector<float>& logits) {
  const size_t vocab = size_t(model_.config.vocab_size);
  for (const ToSample& t : todo) {
    Sequence& seq = *t.seq;
    scratch_.assign(logits.begin() + std::ptrdiff_t(size_t(t.row) * vocab),
                    logits.begin() + std::ptrdiff_t(size_t(t.row + 1) * vocab));
    SamplingContext ctx{&seq.params(), seq.prompt_ids(), seq.output_ids(), eos_ids_, &seq.rng()};
    apply_token(seq, sample_token(scratch_, ctx));
  }
}

// One batch for the backend's sampler: only ids and logprobs come back to the host
// (sample_results_, in todo's order).
void Engine::sample_on_device(const std::vector<ToSample>& todo, const Tensor& logits) {
  sample_batch_.clear();
  for (const ToSample& t : todo) {
    const Sequence& seq = *t.seq;
    add_sample_row({&seq.params(), seq.prompt_ids(), seq.output_ids(), eos_ids_, nullptr}, t.row, seq.seed(),
                   sample_batch_);
  }
  device_sampler_->sample(logits, sample_batch_, sample_results_);
}

void Engine::emit_touched() {
  for (Sequence* seq : touched_) emit(*seq);
  touched_.clear();
}

// n > 1: the children share every prompt block with the parent; the last, partly filled block is
// copied (copy-on-write) because each child writes its own next token into it. Returns the children
// that sample from the parent's logits now (the others recompute their prompt later).
std::vector<Sequence*> Engine::fork_children(Sequence& parent) {
  std::vector<Sequence*> children = std::move(pending_forks_[&parent]);
  std::vector<Sequence*> forked;
  pending_forks_.erase(&parent);
  const int32_t computed = parent.num_computed_tokens(), bs = cfg_.block_size;
  for (Sequence* child : children) {
    blocks_.fork(parent.block_table(), child->block_table());
    if (computed % bs != 0) {
      auto [src, dst] = blocks_.copy_on_write(child->block_table(), (computed - 1) / bs);
      if (dst < 0) {  // no block for the copy: the child computes its prompt itself later
        blocks_.free(child->block_table());
        scheduler_.add_waiting(child, true);
        continue;
      }
      kv_.copy_block(src, dst);
    }
    child->admit(computed);
    scheduler_.add_running(child);
    forked.push_back(child);
  }
  return forked;
}

// The sampled token's bookkeeping, whoever sampled it: append, stop checks, finish. The text is
// deferred to flush_outputs unless stop strings need it now.
void Engine::apply_token(Sequence& seq, const SampledToken& tok) {
  const SamplingParams& p = seq.params();
  seq.append_token(tok);
  stats_.generation_tokens_total++;
  seq.request_state().usage.completion_tokens++;
  touched_.push_back(&seq);
  const bool is_eos = !p.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), tok.id) != eos_ids_.end();
  const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), tok.id) != p.stop_token_ids.end();
  const bool stop_token = (is_eos || is_stop_id) && seq.num_output_tokens() > p.min_tokens - 1;
  const bool length = seq.num_output_tokens() >= p.max_tokens || seq.num_tokens() >= max_model_len_;
  // vLLM: no stop checks before min_tokens.
  const TextWork w{&seq, tok.id, seq.num_output_tokens() >= p.min_tokens, stop_token, stop_token || length};
  std::string matched;
  if (defer_text_ && p.stop.empty()) {
    text_work_.push_back(w);
  } else if (apply_text(w, &matched)) {  // a stop string matched: the text decides now
    scheduler_.remove(&seq);
    seq.finish(FinishReason::kStop, matched);
    return;
  }
  if (!w.finished) return;
  scheduler_.remove(&seq);
  seq.finish(stop_token ? FinishReason::kStop : FinishReason::kLength, stop_token && is_stop_id ? std::to_string(tok.id) : "");
}

bool Engine::apply_text(const TextWork& w, std::string* matched) {
  Sequence& seq = *w.seq;
  bool stopped = false;
  if (w.stop_token) {
    // The stop token's own text is shown only for stop_token_ids with include_stop_str_in_output.
    const SamplingParams& p = seq.params();
    const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), w.token) != p.stop_token_ids.end();
    if (is_stop_id && p.include_stop_str_in_output) seq.pending().text += seq.text_delta(w.token, false, &stopped, matched);
  } else {
    seq.pending().text += seq.text_delta(w.token, w.past_min, &stopped, matched);
  }
  if (stopped) return true;
  if (w.finished) seq.pending().text += seq.text_flush();
  return false;
}

void Engine::flush_outputs() {
  std::string unused;  // queued sequences have no stop strings: their text never stops them
  for (const TextWork& w : text_work_) apply_text(w, &unused);
  text_work_.clear();
  publish_stats();  // before the events: a client that saw its last event sees counters including it
  emit_touched();
}

// Sends the sequence's pending increment; the request's last event carries done + usage.
void Engine::emit(Sequence& seq) {
  StreamEvent e = std::move(seq.pending());
  seq.pending() = StreamEvent{};
  seq.pending().index = seq.index();
  RequestState& st = seq.request_state();
  if (e.finish_reason) {
    switch (*e.finish_reason) {
      case FinishReason::kStop: stats_.finished_stop++; break;
      case FinishReason::kLength: stats_.finished_length++; break;
      case FinishReason::kAbort: stats_.finished_abort++; break;
    }
    if (--st.num_unfinished == 0) {
      e.done = true;
      e.usage = st.usage;
    }
  }
  const bool erase = e.done && *e.finish_reason != FinishReason::kAbort;  // abort_request erases itself
  std::shared_ptr<RequestStream> stream = st.stream;  // erasing the request destroys `st`
  const std::string id = st.request.request_id;
  stream->push(std::move(e));
  if (erase) requests_.erase(id);
}

void Engine::publish_stats() {
  stats_.num_running = int64_t(scheduler_.num_running());
  stats_.num_waiting = int64_t(scheduler_.num_waiting());
  stats_.num_swapped = int64_t(scheduler_.num_swapped());
  stats_.kv_cache_usage = blocks_.usage();
  stats_.prefix_cache_queries = blocks_.prefix_cache_stats().queries;
  stats_.prefix_cache_hits = blocks_.prefix_cache_stats().hits;
  stats_.num_preemptions_total = scheduler_.num_preemptions();
}

}  // namespace ds
