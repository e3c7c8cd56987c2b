#include "server/request_log.h"

#include "server/auth.h"
#include "server/server_context.h"

namespace ds::server {

void RequestTimings::start(const ServerContext& ctx, const httplib::Request& req, std::string endpoint_name) {
  timer = RequestTimer(MetricsClock::now());
  method = req.method;
  endpoint = std::move(endpoint_name);
  client = req.remote_addr + ":" + std::to_string(req.remote_port);
  key_fingerprint = key_fingerprint_of(req);
  if (ctx.cfg.enable_log_requests) body = req.body;
}

void audit_request(ServerContext& ctx, const RequestTimings& t, const RequestRecord& rec) {
  if (!ctx.audit) return;
  AuditRecord a;
  a.time = std::chrono::system_clock::now() -
           std::chrono::duration_cast<std::chrono::system_clock::duration>(MetricsClock::now() - rec.arrival);
  a.request_id = t.request_id;
  a.key_fingerprint = t.key_fingerprint;
  a.client = t.client;
  a.method = t.method;
  a.endpoint = t.endpoint;
  a.model = t.model.empty() ? ctx.model_name() : t.model;
  a.status = t.status;
  a.stream = t.stream;
  a.prompt_tokens = int32_t(t.prompt_tokens);
  a.completion_tokens = int32_t(t.completion_tokens);
  a.finish_reason = t.finish_reason;
  a.ttft_ms = t.timer.ttft_ms();
  a.latency_ms = std::chrono::duration<double, std::milli>(rec.finished - rec.arrival).count();
  a.request_body = t.body;
  a.response_body = t.response_text;
  ctx.audit->write(a);
}

void record_request(ServerContext& ctx, RequestTimings& t) {
  ctx.counters.requests_total++;
  if (t.status >= 400 && t.status < 500) ctx.counters.errors_4xx++;
  if (t.status >= 500) ctx.counters.errors_5xx++;
  const RequestRecord rec = t.timer.finish();
  if (t.reached_engine && ctx.metrics) ctx.metrics->on_request_finished(rec);
  audit_request(ctx, t, rec);
}

void record_error(ServerContext& ctx, RequestTimings& t, const ApiError& e) {
  t.status = e.status;
  t.finish_reason = "";
  record_request(ctx, t);
}

}  // namespace ds::server
