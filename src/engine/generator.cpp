#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

namespace ds {

Generator::Generator(const ModelConfig& cfg, const ModelWeights& w, Backend& be, int32_t max_model_len,
                     int32_t max_num_tokens, int32_t block_size)
    : cfg_(cfg),
      max_model_len_(max_model_len),
      block_size_(block_size),
      decoder_(cfg, w, be, max_num_tokens, 1),
      kv_(be, cfg, (max_model_len + block_size - 1) / block_size, block_size) {}

// Tokens [begin, end) of `ids` as one chunk of the single sequence; blocks are 0, 1, 2, ...
ForwardBatch Generator::batch_for(const std::vector<int32_t>& ids, int32_t begin, int32_t end) const {
  ForwardBatch b;
  for (int32_t p = begin; p < end; ++p) {
    b.token_ids.push_back(ids[size_t(p)]);
    b.positions.push_back(p);
    b.slot_mapping.push_back(p);  // block p / bs, offset p % bs == slot p with an identity table
  }
  b.query_start_loc = {0, end - begin};
  b.seq_lens = {end};
  b.max_blocks_per_seq = kv_.num_blocks();
  for (int32_t i = 0; i < kv_.num_blocks(); ++i) b.block_tables.push_back(i);
  b.logits_indices = {end - begin - 1};
  return b;
}

GenerateResult Generator::generate(const GenerateRequest& req, const std::function<void(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  GenerateResult r;
  std::vector<int32_t> ids = req.prompt_ids;
  DS_CHECK(!ids.empty() && int32_t(ids.size()) < max_model_len_) << "prompt length " << ids.size();
  Sampler sampler(req.sampling);
  std::vector<float> logits;
  auto t0 = clock::now();
  for (int32_t begin = 0; begin < int32_t(ids.size());) {
    const int32_t end = std::min<int32_t>(int32_t(ids.size()), begin + decoder_.max_num_tokens());
    decoder_.forward(batch_for(ids, begin, end), kv_, logits);
    begin = end;
  }
  r.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  auto t1 = clock::now();
  r.finish_reason = "length";
  for (int32_t step = 0; step < req.max_tokens; ++step) {
    if (step > 0) {
      const int32_t n = int32_t(ids.size());
      decoder_.forward(batch_for(ids, n - 1, n), kv_, logits);
    }
    SampledToken tok = sampler.sample(logits);
    ids.push_back(tok.id);
    r.output_ids.push_back(tok.id);
    r.tokens.push_back(std::move(tok));
    if (on_token) on_token(r.output_ids.back());
    const bool stop = std::find(req.stop_token_ids.begin(), req.stop_token_ids.end(), r.output_ids.back()) !=
                      req.stop_token_ids.end();
    if (stop) {
      r.finish_reason = "stop";
      break;
    }
    if (int32_t(ids.size()) >= max_model_len_) break;
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

}  // namespace ds
