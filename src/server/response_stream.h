#pragma once
// Turns engine StreamEvents into OpenAI responses: SSE chunks as OpenAI / vLLM send them
// (chat.completion.chunk / text_completion, `data: [DONE]`, a usage chunk with
// stream_options.include_usage), or one JSON body for non-streaming requests. Applies the R1
// reasoning split per choice. One builder per HTTP request; used by that request's thread only.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/openai_protocol.h"
#include "server/reasoning.h"

namespace ds::server {

class ResponseBuilder {
 public:
  ResponseBuilder(const OpenAiRequest& req, const Tokenizer* tok, std::string id, std::string model);

  // Streaming: SSE text to send before any event (chat: the role delta; echo: the prompt).
  std::string stream_start();
  // Records one event of prompt `prompt_index`; returns the SSE text to send (maybe "").
  std::string on_event(int32_t prompt_index, const StreamEvent& e);
  // Streaming: final text (the usage chunk if asked, then [DONE]).
  std::string stream_end();
  // Non-streaming: the whole response body.
  nlohmann::json final_body() const;

  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t completion_tokens() const { return completion_tokens_; }
  std::string finish_reasons() const;  // comma-separated, for logs
  bool any_aborted() const;            // some choice has finish_reason "abort"

 private:
  struct Choice {
    std::string text, reasoning, content;
    ReasoningParser parser;
    nlohmann::json logprobs;  // chat: array of content entries; completions: the four arrays
    std::string finish_reason, stop_reason;
    int32_t reasoning_tokens = 0;
    int64_t text_offset = 0;
  };
  nlohmann::json chunk(nlohmann::json choices) const;
  nlohmann::json usage_json() const;
  nlohmann::json logprob_delta(Choice& c, const StreamEvent& e);
  std::string token_text(int32_t id) const;
  static std::string sse(const nlohmann::json& j);

  const OpenAiRequest& req_;
  const Tokenizer* tok_;
  std::string id_, model_;
  int64_t created_;
  int32_t n_;
  std::vector<Choice> choices_;
  std::vector<bool> usage_seen_;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0, cached_tokens_ = 0;
};

}  // namespace ds::server
