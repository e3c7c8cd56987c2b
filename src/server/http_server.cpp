#include "server/http_server.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "server/handlers.h"
#include "server/listener.h"

namespace ds::server {
namespace {
using Clock = std::chrono::steady_clock;

int default_threads(const ServerConfig& c) {
  if (c.http_threads > 0) return c.http_threads;
  return std::clamp(c.max_waiting_requests + 512, 256, 2048);
}

bool origin_allowed(const ServerConfig& c, const std::string& origin) {
  if (origin.empty()) return false;
  for (const std::string& o : c.allowed_origins)
    if (o == "*" || o == origin) return true;
  return false;
}

bool allows_any(const ServerConfig& c) {
  return std::find(c.allowed_origins.begin(), c.allowed_origins.end(), "*") != c.allowed_origins.end();
}

// CORS as vLLM's defaults (Starlette CORSMiddleware with allow_methods/allow_headers "*", no
// credentials): an allowed Origin gets Access-Control-Allow-Origin on every response, including
// errors; a disallowed one gets no CORS headers, so the browser refuses to hand over the response.
void add_cors(const ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (res.has_header("Access-Control-Allow-Origin")) return;  // pre-routing already did (error handler)
  const std::string origin = req.get_header_value("Origin");
  if (!origin_allowed(ctx.cfg, origin)) return;
  const bool any = allows_any(ctx.cfg);
  res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
  if (!any) res.set_header("Vary", "Origin");
  res.set_header("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate");
}

// Preflight (OPTIONS with Origin + Access-Control-Request-Method): 204 with the allowed methods and
// the requested headers echoed (= "*": the OpenAI SDK sends x-stainless-* headers) for an allowed
// origin; 400 "Disallowed CORS origin" otherwise (what Starlette answers). No API key is needed:
// browsers never send credentials on a preflight.
void handle_preflight(const ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty() || !req.has_header("Access-Control-Request-Method")) {  // plain OPTIONS
    res.status = 204;
    res.set_header("Allow", "GET, POST, OPTIONS");
    return;
  }
  if (!origin_allowed(ctx.cfg, origin)) {
    res.status = 400;
    res.set_content("Disallowed CORS origin", "text/plain");
    return;
  }
  res.status = 204;
  add_cors(ctx, req, res);
  res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  const std::string want = req.get_header_value("Access-Control-Request-Headers");
  res.set_header("Access-Control-Allow-Headers", want.empty() ? "Authorization, Content-Type" : want);
  res.set_header("Access-Control-Max-Age", "600");
}

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(ServerContext& ctx) : ctx_(ctx), svr_(default_threads(ctx.cfg)) {
    svr_.set_payload_max_length(ctx.cfg.max_request_bytes);
    // httplib uses the keep-alive timeout also as the wait for a new connection's first request.
    // A client's event loop under load (1,000 streams on 2 busy cores) can connect and then write
    // its request seconds later; 5 s closed such connections unanswered. Idle keep-alive
    // connections hold a worker for this long, which the pool size (max-waiting + 512) covers.
    svr_.set_keep_alive_timeout(20);
    svr_.set_keep_alive_max_count(1000);
    svr_.set_read_timeout(30);
    svr_.set_write_timeout(30);
    svr_.set_tcp_nodelay(true);
    install_hooks();
    install_routes();
  }

  Status bind() {
    if (!svr_.bind(ctx_.cfg.host, ctx_.cfg.port, 4096))
      return io_error("cannot listen on " + ctx_.cfg.host + ":" + std::to_string(ctx_.cfg.port) + " (address in use or not local?)");
    return Status::ok();
  }
  Status run() {
    const bool ok = svr_.run([](const std::string& m) { std::fprintf(stderr, "dsserve: %s\n", m.c_str()); });
    return ok ? Status::ok() : io_error("stopped listening on " + ctx_.cfg.host + ":" + std::to_string(ctx_.cfg.port));
  }

  void drain_and_stop() {
    ctx_.draining = true;
    const auto limit = Clock::now() + std::chrono::milliseconds(int64_t(ctx_.cfg.shutdown_timeout_s * 1000));
    while (ctx_.inflight.size() > 0 && Clock::now() < limit) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (const size_t left = ctx_.inflight.size(); left > 0) {
      std::fprintf(stderr, "dsserve: shutdown timeout: aborting %zu in-flight requests\n", left);
      for (const std::string& id : ctx_.inflight.ids()) ctx_.engine->abort(id);
      const auto hard = Clock::now() + std::chrono::seconds(5);
      while (ctx_.inflight.size() > 0 && Clock::now() < hard) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Stopping closes every connection whose request has not been read yet, unanswered: a client
    // that sent one just as the last in-flight request ended would see its connection drop. So the
    // server keeps answering (503 while draining) until no request has arrived for 250 ms, within
    // the same deadline. (Seen once in CI under CPU starvation, tests/api/load.test.mjs.)
    const auto quiet = std::chrono::milliseconds(250);
    while (Clock::now() < limit &&
           Clock::now().time_since_epoch() - std::chrono::nanoseconds(ctx_.last_request_ns.load()) < quiet)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    svr_.stop();
  }

 private:
  using HR = httplib::Server::HandlerResponse;

  void install_hooks() {
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      ctx_.last_request_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      if (req.method == "OPTIONS") {  // CORS preflight: no auth (browsers send no credentials)
        handle_preflight(ctx_, req, res);
        return HR::Handled;
      }
      add_cors(ctx_, req, res);
      if (!is_open_path(req.path, ctx_.cfg.metrics_public) && !ctx_.auth.check(req.get_header_value("Authorization"))) {
        send_error(res, unauthorized());
        res.set_header("WWW-Authenticate", "Bearer");
        return HR::Handled;
      }
      if (!ctx_.ready && req.path != "/health" && req.path != "/version") {
        send_error(res, not_ready());
        return HR::Handled;
      }
      return HR::Unhandled;
    });
    // Statuses httplib sets itself (404 route, 413 body, 400 bad framing) get an OpenAI body.
    svr_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return HR::Unhandled;
      add_cors(ctx_, req, res);
      if (res.status == 413) send_error(res, payload_too_large(ctx_.cfg.max_request_bytes));
      else if (res.status == 404) send_error(res, {404, "Not found: " + req.method + " " + req.path, "not_found_error", "", ""});
      else if (res.status == 405) send_error(res, {405, "Method not allowed", "invalid_request_error", "", ""});
      else if (res.status >= 400 && res.status < 500) send_error(res, {res.status, "Bad request", "invalid_request_error", "", ""});
      else return HR::Unhandled;
      return HR::Handled;
    }));
    svr_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, {500, what, "internal_server_error", "", ""});
    });
  }

  void install_routes() {
    ServerContext& c = ctx_;
    svr_.Post("/v1/completions", [&c](const auto& q, auto& r) { handle_generation(c, Endpoint::kCompletions, q, r); });
    svr_.Post("/v1/chat/completions", [&c](const auto& q, auto& r) { handle_generation(c, Endpoint::kChat, q, r); });
    svr_.Get("/v1/models", [&c](const auto& q, auto& r) { handle_models(c, q, r); });
    svr_.Get("/health", [&c](const auto& q, auto& r) { handle_health(c, q, r); });
    svr_.Get("/ping", [&c](const auto& q, auto& r) { handle_health(c, q, r); });
    svr_.Get("/version", [&c](const auto& q, auto& r) { handle_version(c, q, r); });
    svr_.Post("/tokenize", [&c](const auto& q, auto& r) { handle_tokenize(c, q, r); });
    svr_.Post("/detokenize", [&c](const auto& q, auto& r) { handle_detokenize(c, q, r); });
    svr_.Get("/metrics", [&c](const auto& q, auto& r) { handle_metrics(c, q, r); });
  }

  ServerContext& ctx_;
  Listener svr_;
};

HttpServer::HttpServer(ServerContext& ctx) : impl_(std::make_unique<Impl>(ctx)) {}
HttpServer::~HttpServer() = default;
Status HttpServer::bind() { return impl_->bind(); }
Status HttpServer::run() { return impl_->run(); }
void HttpServer::drain_and_stop() { impl_->drain_and_stop(); }

}  // namespace ds::server
