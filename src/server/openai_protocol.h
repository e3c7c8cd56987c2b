#pragma once
// OpenAI / vLLM request parsing: a JSON body of /v1/completions or /v1/chat/completions becomes
// one OpenAiRequest (prompts as token ids + SamplingParams), or an ApiError naming the field.
// Pure functions of their inputs: callable from any HTTP thread.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"
#include "model/generation_config.h"
#include "server/api_error.h"
#include "server/server_config.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {

enum class Endpoint { kCompletions, kChat };

// What parsing needs to know about the model; shared by every request.
struct ProtocolContext {
  const Tokenizer* tokenizer = nullptr;        // null: only token-id prompts work
  const ChatTemplate* chat_template = nullptr; // null: chat requests are rejected
  GenerationDefaults generation;               // request defaults (generation_config.json)
  int32_t max_model_len = 0;
  bool reasoning = false;                      // deepseek_r1 parser on for chat
  const ServerConfig* cfg = nullptr;
};

struct OpenAiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  bool stream = false;
  bool include_usage = false;    // stream_options.include_usage
  bool echo = false;             // completions: prepend the prompt text
  bool reasoning = false;        // split output at </think>
  std::optional<int32_t> logprobs;  // number of top alternatives; nullopt = no logprobs
  SamplingParams params;
  std::vector<std::vector<int32_t>> prompts;  // one engine request per prompt (n choices each)
  std::vector<std::string> prompt_texts;      // for echo
};

// Parses and validates a body; `body` is the raw text (malformed JSON is a 400).
// Fills `out` and returns nullopt, or returns the error.
std::optional<ApiError> parse_openai_request(Endpoint ep, const std::string& body, const ProtocolContext& ctx,
                                             OpenAiRequest& out);

// Checks chat messages (a non-empty array of objects with a string role) and joins each content
// given as an array of {"type": "text", "text": ...} parts into one string ("\n" between parts),
// in place; other part types are a 400. Run before render_chat_messages.
std::optional<ApiError> normalize_messages(nlohmann::ordered_json& messages);

// Renders chat messages through the template (ordered_json keeps HF's key order for tools).
Result<std::string> render_chat_messages(const ProtocolContext& ctx, const nlohmann::ordered_json& messages,
                                         const nlohmann::ordered_json* tools, bool add_generation_prompt,
                                         const nlohmann::ordered_json* kwargs);

}  // namespace ds::server
