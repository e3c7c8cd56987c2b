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

void audit_request(ServerContext&, const RequestTimings&, const RequestRecord&) {}

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
