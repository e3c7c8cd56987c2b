#include "engine/sequence.h"

namespace ds {

Sequence::Sequence(std::shared_ptr<RequestState> req, int32_t index, uint64_t seed, const Tokenizer* tok)
    : req_(std::move(req)),
      index_(index),
      tokens_(req_->request.prompt_ids),
      num_prompt_(int32_t(tokens_.size())),
      seed_(seed),
      rng_(seed),
      stop_(req_->request.params.stop, req_->request.params.include_stop_str_in_output) {
  if (tok) detok_.emplace(*tok, req_->request.params.skip_special_tokens, req_->request.prompt_ids);
  pending_.index = index;
}

void Sequence::admit(int32_t num_cached_tokens) {
  DS_CHECK(status_ == SeqStatus::kWaiting) << request_id();
  status_ = SeqStatus::kRunning;
  num_computed_ = num_cached_tokens;
}

void Sequence::preempt_recompute() {
  DS_CHECK(status_ == SeqStatus::kRunning) << request_id();
  DS_CHECK(blocks_.empty()) << "free the blocks before preempting";
  status_ = SeqStatus::kWaiting;
  num_computed_ = 0;
}

void Sequence::swap_out() {
  DS_CHECK(status_ == SeqStatus::kRunning) << request_id();
  status_ = SeqStatus::kSwapped;
}

void Sequence::swap_in() {
  DS_CHECK(status_ == SeqStatus::kSwapped) << request_id();
  status_ = SeqStatus::kRunning;
}

void Sequence::finish(FinishReason reason, std::string stop_reason) {
  DS_CHECK(status_ != SeqStatus::kFinished) << request_id();
  status_ = SeqStatus::kFinished;
  finish_ = reason;
  pending_.finish_reason = reason;
  pending_.stop_reason = std::move(stop_reason);
}

void Sequence::append_token(const SampledToken& t) {
  tokens_.push_back(t.id);
  pending_.token_ids.push_back(t.id);
  if (params().logprobs) pending_.logprobs.push_back(t);
}

std::string Sequence::text_delta(int32_t token_id, bool check_stops, bool* stopped, std::string* matched) {
  *stopped = false;
  if (!detok_) return "";
  if (!check_stops) return detok_->push(token_id);
  StopChecker::Step s = stop_.push(detok_->push(token_id));
  *stopped = s.stopped;
  *matched = s.matched;
  return s.emit;
}

std::string Sequence::text_flush() {
  if (!detok_) return "";
  StopChecker::Step s = stop_.push(detok_->flush());
  return s.stopped ? s.emit : s.emit + stop_.flush();
}

}  // namespace ds
