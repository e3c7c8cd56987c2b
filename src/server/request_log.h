#pragma once
// Per-request bookkeeping and the one place a finished HTTP request is recorded: HTTP counters,
// the vLLM latency histograms (ServerMetrics::on_request_finished) and the audit log line.
// One RequestTimings per HTTP request, used by the thread serving it.
#include <optional>
#include <string>

#include <httplib.h>

#include "server/api_error.h"
#include "server/request_metrics.h"

namespace ds::server {

struct ServerContext;

struct RequestTimings {
  RequestTimer timer;
  bool reached_engine = false;  // only those are observed by the histograms (vLLM does the same)
  std::string request_id, method, endpoint, client, key_fingerprint, body, model, finish_reason;
  std::string response_text;    // the generated text, kept only with --enable-log-requests
  bool stream = false;
  int status = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;

  void start(const ServerContext& ctx, const httplib::Request& req, std::string endpoint_name);
  void on_event(const StreamEvent& e) { timer.on_event(e); }
};

void record_request(ServerContext& ctx, RequestTimings& t);
void record_error(ServerContext& ctx, RequestTimings& t, const ApiError& e);

}  // namespace ds::server
