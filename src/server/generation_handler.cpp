// POST /v1/completions and /v1/chat/completions: parse, submit one engine request per prompt,
// then stream SSE chunks from a content provider, or (non-streaming) send the whole JSON body from
// one once complete. A client that goes away before its response is complete aborts its engine
// requests (blocks freed within one step), streaming or not.
#include <chrono>
#include <cstdio>

#include "server/handlers.h"
#include "server/request_log.h"
#include "server/response_stream.h"

namespace ds::server {
namespace {
using Clock = std::chrono::steady_clock;

// One HTTP request's engine requests and their progress. Owned by shared_ptr so the streaming
// provider and its releaser can share it; only one thread touches it at a time.
struct GenerationJob {
  OpenAiRequest req;
  std::unique_ptr<ResponseBuilder> builder;
  std::vector<std::string> ids;
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<bool> done;
  size_t num_done = 0, cursor = 0;
  bool started = false, finished = false, aborted = false, timed_out = false;
  RequestTimings timings;
  Clock::time_point deadline = Clock::time_point::max();

  bool all_done() const { return num_done == streams.size(); }
  // The next event of any unfinished stream (round robin), waiting up to `wait`.
  bool next(int32_t& prompt, StreamEvent& e, std::chrono::milliseconds wait) {
    for (size_t k = 0; k < streams.size(); ++k) {
      const size_t i = (cursor + k) % streams.size();
      if (done[i]) continue;
      const auto w = streams.size() == 1 ? wait : std::chrono::milliseconds(0);
      if (streams[i]->next(e, w)) {
        cursor = i + 1;
        prompt = int32_t(i);
        if (e.done) {
          done[i] = true;
          ++num_done;
        }
        timings.on_event(e);
        return true;
      }
    }
    if (streams.size() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return false;
  }
  void abort_all(Engine& engine) {
    if (aborted) return;
    aborted = true;
    for (size_t i = 0; i < ids.size(); ++i)
      if (!done[i]) engine.abort(ids[i]);
  }
};

std::string new_request_id(ServerContext& ctx, Endpoint ep) {
  char buf[64];
  const uint64_t n = ctx.next_request.fetch_add(1);
  const auto t = uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
  std::snprintf(buf, sizeof buf, "%s-%08llx%08llx", ep == Endpoint::kChat ? "chatcmpl" : "cmpl",
                (unsigned long long)(t & 0xffffffffull), (unsigned long long)n);
  return buf;
}

std::optional<ApiError> admit(ServerContext& ctx, const OpenAiRequest& r) {
  if (!r.model.empty() && !ctx.serves(r.model)) return model_not_found(r.model);
  if (ctx.draining) return overloaded("The server is shutting down.");
  return std::nullopt;
}

// The waiting queue as the HTTP side sees it: accepted engine requests minus those the engine
// reported running at its last step. The engine's own num_waiting is only refreshed once per step,
// so a burst would pass a check against it; this count grows the moment a request is submitted.
// Call with ctx.admission_mu held.
int64_t waiting_estimate(ServerContext& ctx) {
  return int64_t(ctx.inflight.size()) - ctx.engine->stats().num_running.load();
}

std::optional<ApiError> submit_all(ServerContext& ctx, GenerationJob& job, const std::string& base_id) {
  // Check and submit under one lock: concurrent requests cannot all pass the same check.
  std::lock_guard<std::mutex> lock(ctx.admission_mu);
  if (waiting_estimate(ctx) + int64_t(job.req.prompts.size()) > ctx.cfg.max_waiting_requests) {
    ctx.counters.rejected_overload++;
    return overloaded("Too many waiting requests (--max-waiting-requests " + std::to_string(ctx.cfg.max_waiting_requests) +
                      "); retry later.");
  }
  for (size_t i = 0; i < job.req.prompts.size(); ++i) {
    std::string id = job.req.prompts.size() == 1 ? base_id : base_id + "-" + std::to_string(i);
    auto s = ctx.engine->submit({id, job.req.prompts[i], job.req.params, 0});
    if (!s.ok()) {
      for (const std::string& prev : job.ids) ctx.engine->abort(prev);
      for (const std::string& prev : job.ids) ctx.inflight.remove(prev);
      return from_status(s.status());
    }
    ctx.inflight.add(id);
    job.ids.push_back(std::move(id));
    job.streams.push_back(*s);
    job.done.push_back(false);
  }
  return std::nullopt;
}

void finish_job(ServerContext& ctx, GenerationJob& job, int status) {
  if (job.finished) return;
  job.finished = true;
  for (const std::string& id : job.ids) ctx.inflight.remove(id);
  job.timings.status = status;
  job.timings.prompt_tokens = job.builder->prompt_tokens();
  job.timings.completion_tokens = job.builder->completion_tokens();
  job.timings.finish_reason = job.builder->finish_reasons();
  job.timings.stream = job.req.stream;
  job.timings.model = ctx.model_name();
  if (ctx.cfg.enable_log_requests && ctx.audit) job.timings.response_text = job.builder->final_body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  record_request(ctx, job.timings);
}

// --request-timeout: past the deadline every unfinished choice is aborted (finish_reason "abort",
// blocks freed within one engine step); the response then says why (see timeout_error()).
void check_timeout(ServerContext& ctx, GenerationJob& job) {
  if (job.aborted || job.all_done() || Clock::now() <= job.deadline) return;
  job.timed_out = true;
  ctx.counters.request_timeouts++;
  job.abort_all(*ctx.engine);
}

// The deadline passed and a choice was cut. A request whose last event was already on its way
// when the deadline passed ends normally (its abort found nothing to stop) and gets no error.
bool cut_by_timeout(const GenerationJob& job) { return job.timed_out && job.builder->any_aborted(); }

nlohmann::json timeout_error(const ServerContext& ctx) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", ctx.cfg.request_timeout_s);
  return {{"message", std::string("The request ran longer than --request-timeout (") + secs +
                          " s) and was stopped; the output is cut short (finish_reason \"abort\")."},
          {"type", "timeout_error"}, {"param", nullptr}, {"code", "request_timeout"}};
}

std::string whole_body(ServerContext& ctx, GenerationJob& job) {
  nlohmann::json body = job.builder->final_body();
  if (cut_by_timeout(job)) body["error"] = timeout_error(ctx);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Non-streaming for HTTP/1.0 clients (no chunked encoding): wait, then answer with Content-Length.
void respond_whole(ServerContext& ctx, GenerationJob& job, httplib::Response& res) {
  int32_t p = 0;
  StreamEvent e;
  while (!job.all_done()) {
    if (job.next(p, e, std::chrono::milliseconds(100))) job.builder->on_event(p, e);
    check_timeout(ctx, job);
  }
  send_json(res, whole_body(ctx, job));
  finish_job(ctx, job, 200);
}

// Non-streaming for HTTP/1.1: the one JSON body is sent chunked once complete, so that the wait
// can look at the connection (every 100 ms, through httplib's sink) and abort the requests of a
// client that went away, as vLLM does; before, they ran to max_tokens for nobody.
bool pump_whole(ServerContext& ctx, GenerationJob& job, httplib::DataSink& sink) {
  constexpr auto kLook = std::chrono::milliseconds(100);
  int32_t p = 0;
  StreamEvent e;
  auto next_look = Clock::now() + kLook;
  while (!job.all_done()) {
    check_timeout(ctx, job);
    if (job.next(p, e, kLook)) job.builder->on_event(p, e);
    if (Clock::now() < next_look) continue;
    if (!sink.is_writable()) return false;
    next_look = Clock::now() + kLook;
  }
  const std::string body = whole_body(ctx, job);
  // Recorded (metrics, audit line) before the client can see the end of the body, as the
  // Content-Length path does: a client that got its answer finds it counted. (A write that fails
  // now leaves it recorded as 200: the whole answer was ready.)
  finish_job(ctx, job, 200);
  if (!sink.write(body.data(), body.size())) return false;
  sink.done();
  return true;
}

// A client gone before its response was complete: abort what still runs, then drain the streams
// so usage and timings are complete (each ends within one engine step).
void abandon_job(ServerContext& ctx, GenerationJob& job) {
  if (job.finished) return;
  ctx.counters.client_disconnects++;
  job.abort_all(*ctx.engine);
  int32_t p = 0;
  StreamEvent e;
  while (!job.all_done())
    if (job.next(p, e, std::chrono::milliseconds(100))) job.builder->on_event(p, e);
  finish_job(ctx, job, 499);
}

// One provider call: sends whatever is ready (at least one chunk unless the client is gone).
bool pump_stream(ServerContext& ctx, GenerationJob& job, httplib::DataSink& sink) {
  std::string out;
  if (!job.started) {
    job.started = true;
    out = job.builder->stream_start();
  }
  int32_t p = 0;
  StreamEvent e;
  while (!job.all_done() && out.empty()) {
    check_timeout(ctx, job);
    if (job.next(p, e, std::chrono::milliseconds(100))) {
      out += job.builder->on_event(p, e);
      continue;
    }
    if (!sink.is_writable()) return false;
  }
  if (job.all_done()) {
    // A timed-out stream says why in an error event (vLLM's in-stream error shape) before [DONE].
    if (cut_by_timeout(job)) out += "data: " + nlohmann::json{{"error", timeout_error(ctx)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
    out += job.builder->stream_end();
  }
  if (job.all_done()) finish_job(ctx, job, 200);  // before [DONE] goes out (see pump_whole)
  if (!out.empty() && !sink.write(out.data(), out.size())) return false;
  if (job.all_done()) sink.done();
  return true;
}

}  // namespace

void handle_generation(ServerContext& ctx, Endpoint ep, const httplib::Request& req, httplib::Response& res) {
  auto job = std::make_shared<GenerationJob>();
  job->timings.start(ctx, req, ep == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions");
  if (auto err = parse_openai_request(ep, req.body, ctx.protocol, job->req)) return send_error(res, *err), record_error(ctx, job->timings, *err);
  if (auto err = admit(ctx, job->req)) return send_error(res, *err), record_error(ctx, job->timings, *err);
  const std::string id = new_request_id(ctx, ep);
  job->timings.request_id = id;
  if (auto err = submit_all(ctx, *job, id)) return send_error(res, *err), record_error(ctx, job->timings, *err);
  job->timings.reached_engine = true;
  job->builder = std::make_unique<ResponseBuilder>(job->req, ctx.protocol.tokenizer, id, ctx.model_name());
  if (ctx.cfg.request_timeout_s > 0)
    job->deadline = Clock::now() + std::chrono::milliseconds(int64_t(ctx.cfg.request_timeout_s * 1000));
  ServerContext* c = &ctx;
  if (!job->req.stream) {
    if (req.version == "HTTP/1.0") return respond_whole(ctx, *job, res);
    res.set_chunked_content_provider(
        "application/json", [job, c](size_t, httplib::DataSink& sink) { return pump_whole(*c, *job, sink); },
        [job, c](bool) { abandon_job(*c, *job); });
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // nginx: do not buffer SSE
  res.set_chunked_content_provider(
      "text/event-stream", [job, c](size_t, httplib::DataSink& sink) { return pump_stream(*c, *job, sink); },
      [job, c](bool) { abandon_job(*c, *job); });
}

}  // namespace ds::server
