#pragma once
// Generator: one sequence, prompt -> tokens, on a private contiguous block table. This is the
// single-request path of `dsserve generate`; the batching engine (src/engine) supersedes it for
// many requests and reuses Decoder, KvCache and Sampler.
#include <functional>
#include <vector>

#include "runtime/decoder.h"
#include "runtime/sampler.h"

namespace ds {

struct GenerateRequest {
  std::vector<int32_t> prompt_ids;
  int32_t max_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_token_ids;  // eos ids unless ignore_eos
};

struct GenerateResult {
  std::vector<int32_t> output_ids;
  std::vector<SampledToken> tokens;  // per output token: id, logprob, top alternatives
  std::string finish_reason;         // "stop" | "length"
  double prefill_seconds = 0, decode_seconds = 0;
};

class Generator {
 public:
  // max_model_len bounds prompt + output; prefill runs in chunks of max_num_tokens.
  Generator(const ModelConfig& cfg, const ModelWeights& weights, Backend& backend, int32_t max_model_len,
            int32_t max_num_tokens = 512, int32_t block_size = 16);
  // on_token is called after every sampled token (for streaming text).
  GenerateResult generate(const GenerateRequest& req, const std::function<void(int32_t)>& on_token = {});
  int32_t max_model_len() const { return max_model_len_; }

 private:
  ForwardBatch batch_for(const std::vector<int32_t>& ids, int32_t begin, int32_t end) const;
  const ModelConfig& cfg_;
  int32_t max_model_len_, block_size_;
  Decoder decoder_;
  KvCache kv_;
};

}  // namespace ds
