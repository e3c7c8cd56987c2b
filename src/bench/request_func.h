#pragma once
// One streamed request to an OpenAI-compatible server and what was measured on it (vLLM's
// RequestFuncInput / RequestFuncOutput). Thread-safety: send_request may run on many threads at once.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ds::bench {

using Clock = std::chrono::steady_clock;

// Why a request failed; "" (kNone) when it succeeded.
enum class ErrorKind { kNone, kConnect, kHttp4xx, kHttp5xx, kStreamCut, kTimeout, kServerError, kOther };
const char* error_kind_name(ErrorKind k);

struct Endpoint {
  std::string base_url = "http://127.0.0.1:8000";  // scheme://host[:port]
  std::string path = "/v1/completions";            // or /v1/chat/completions
  std::string api_key;                             // sent as "Authorization: Bearer ..." when set
  double timeout_s = 3600;
  bool chat() const { return path.find("chat") != std::string::npos; }
};

struct RequestInput {
  std::string prompt_text;            // used on chat, and on completions when prompt_ids is empty
  std::vector<int32_t> prompt_ids;    // sent as `prompt: [ids]` on /v1/completions when non-empty
  int64_t prompt_len = 0;             // prompt tokens as built; usage.prompt_tokens replaces it
  int64_t output_len = 128;           // max_tokens
};

struct RequestOptions {
  std::string model;
  bool ignore_eos = false;
  double temperature = 0.0;
  // Sent only when set (vllm bench serve's --top-p/--top-k/--min-p): otherwise the server's defaults
  // apply (for R1-Distill, generation_config.json's top_p 0.95).
  std::optional<double> top_p, min_p;
  std::optional<int64_t> top_k;
  nlohmann::json extra_body = nlohmann::json::object();  // merged into every request body
};

struct RequestOutput {
  bool success = false;
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error;
  int http_status = 0;
  double start_time = 0;       // seconds since the benchmark start, when the request was sent
  double ttft = 0;             // seconds to the first content chunk
  double latency = 0;          // seconds to the end of the stream (E2E)
  std::vector<double> itl;     // seconds between consecutive content chunks
  int64_t prompt_len = 0;
  int64_t output_tokens = 0;   // usage.completion_tokens, else the number of content chunks
  int64_t chunks = 0;          // content-bearing SSE chunks
  std::string generated_text;
};

// Sends one streaming request and measures it. Never throws; failures are in the output.
// `t0` is the benchmark start (for start_time).
RequestOutput send_request(const Endpoint& ep, const RequestOptions& opt, const RequestInput& in,
                           Clock::time_point t0);

// Builds the JSON body vLLM's bench sends for this endpoint.
nlohmann::json build_body(const Endpoint& ep, const RequestOptions& opt, const RequestInput& in);

// GET base_url + path; returns the body, or "" on failure (with *status set when given).
std::string http_get(const std::string& base_url, const std::string& path, const std::string& api_key,
                     double timeout_s = 10, int* status = nullptr);
}  // namespace ds::bench
