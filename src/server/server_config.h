#pragma once
// ServerConfig: everything `dsserve serve` decides about the HTTP side (the engine has its own
// EngineConfig). Filled in by src/app/serve_command.cpp; immutable once the server starts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::server {

struct ServerConfig {
  std::string host = "127.0.0.1";  // loopback by default (vLLM binds 0.0.0.0): exposing is a choice
  int port = 8000;
  std::vector<std::string> served_model_names;  // first is the one responses report
  std::vector<std::string> api_keys;            // empty = no auth
  bool metrics_public = false;                  // /metrics without a key when --api-key is set
  std::vector<std::string> allowed_origins;     // CORS; empty = no CORS headers, "*" = any
  size_t max_request_bytes = 8u << 20;          // larger bodies get 413
  int32_t max_n = 64;                           // limit on `n` (x number of prompts)
  int32_t max_stop = 32;                        // limit on the number of stop strings
  int32_t max_waiting_requests = 4096;          // engine waiting queue; beyond it 503 + Retry-After
  int32_t http_threads = 0;                     // 0 = max(64, 2 * max_waiting + max_num_seqs) capped
  double request_timeout_s = 0;                 // 0 = none
  double shutdown_timeout_s = 30;               // SIGTERM drain limit
  std::string reasoning_parser = "auto";        // auto | deepseek_r1 | none
  std::string chat_template;                    // contents of --chat-template, "" = the model's
  bool enable_log_requests = false;             // bodies in the audit log
  int32_t max_log_len = 0;                      // cut logged bodies to this many chars (0 = no cut)
  std::string model_path;                       // what /v1/models reports as root
};

}  // namespace ds::server
