#include "bench/request_func.h"

#include <httplib.h>

#include "bench/sse_parser.h"
#include "common/json_nesting.h"

namespace ds::bench {
namespace {
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void set_timeouts(httplib::Client& cli, double timeout_s) {
  const auto sec = time_t(timeout_s);
  const auto usec = time_t((timeout_s - double(sec)) * 1e6);
  cli.set_connection_timeout(std::min<time_t>(sec, 30), usec);
  cli.set_read_timeout(sec, usec);
  cli.set_write_timeout(sec, usec);
  // Headers and body go out in separate writes: without NODELAY, Nagle + the server's delayed ACK
  // can hold the body back 40 ms and inflate TTFT.
  cli.set_tcp_nodelay(true);
}

// Text carried by one streamed chunk (completions `text`, chat `delta.content` or reasoning).
std::string chunk_text(const nlohmann::json& choice, bool chat) {
  if (!chat) return choice.value("text", std::string());
  std::string s;
  if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
    for (const char* f : {"reasoning_content", "reasoning", "content"})
      if (auto it = d->find(f); it != d->end() && it->is_string()) s += it->get<std::string>();
  }
  return s;
}

ErrorKind kind_of(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress:
    case httplib::Error::ConnectionTimeout:
      return ErrorKind::kConnect;
    case httplib::Error::Read:
    case httplib::Error::Canceled:
      return ErrorKind::kStreamCut;
    default:
      return ErrorKind::kOther;
  }
}
}  // namespace

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kHttp4xx: return "http_4xx";
    case ErrorKind::kHttp5xx: return "http_5xx";
    case ErrorKind::kStreamCut: return "stream_cut";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kServerError: return "server_error";
    case ErrorKind::kOther: return "other";
  }
  return "other";
}

nlohmann::json build_body(const Endpoint& ep, const RequestOptions& opt, const RequestInput& in) {
  nlohmann::json b;
  b["model"] = opt.model;
  b["temperature"] = opt.temperature;
  b["stream"] = true;
  b["stream_options"] = {{"include_usage", true}};
  if (ep.chat()) {
    b["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", in.prompt_text}}});
    b["max_completion_tokens"] = in.output_len;
  } else {
    if (!in.prompt_ids.empty())
      b["prompt"] = in.prompt_ids;
    else
      b["prompt"] = in.prompt_text;
    b["max_tokens"] = in.output_len;
  }
  if (opt.ignore_eos) b["ignore_eos"] = true;
  if (opt.top_p) b["top_p"] = *opt.top_p;
  if (opt.top_k) b["top_k"] = *opt.top_k;
  if (opt.min_p) b["min_p"] = *opt.min_p;
  for (auto& [k, v] : opt.extra_body.items()) b[k] = v;
  return b;
}

RequestOutput send_request(const Endpoint& ep, const RequestOptions& opt, const RequestInput& in,
                           Clock::time_point t0) {
  RequestOutput out;
  out.prompt_len = in.prompt_len;
  const std::string body = build_body(ep, opt, in).dump();
  httplib::Client cli(ep.base_url);
  set_timeouts(cli, ep.timeout_s);
  httplib::Request req;
  req.method = "POST";
  req.path = ep.path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  if (!ep.api_key.empty()) req.set_header("Authorization", "Bearer " + ep.api_key);

  SseParser sse;
  std::string error_body;
  bool done = false, ok_status = false, server_error = false;
  int64_t usage_tokens = -1;
  Clock::time_point last{};
  const auto st = Clock::now();
  out.start_time = seconds(st - t0);
  req.response_handler = [&](const httplib::Response& r) {
    out.http_status = r.status;
    ok_status = r.status >= 200 && r.status < 300;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    const auto now = Clock::now();
    if (!ok_status) {
      if (error_body.size() < 4096) error_body.append(data, std::min<size_t>(n, 4096));
      return true;
    }
    for (const std::string& ev : sse.feed(std::string_view(data, n))) {
      if (ev == "[DONE]") {
        done = true;
        continue;
      }
      if (!json_nesting_within(ev)) {  // a hostile server's event: not parsed (dump would recurse)
        server_error = true;
        out.error = "an event: " + json_nesting_error();
        continue;
      }
      nlohmann::json j = nlohmann::json::parse(ev, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        server_error = true;
        out.error = j["error"].dump();
        continue;
      }
      if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        usage_tokens = u->value("completion_tokens", int64_t(-1));
        // The server's count (chat templates add tokens the dataset never saw).
        if (const int64_t pt = u->value("prompt_tokens", int64_t(0)); pt > 0) out.prompt_len = pt;
      }
      auto ch = j.find("choices");
      if (ch == j.end() || !ch->is_array() || ch->empty()) continue;
      const std::string text = chunk_text((*ch)[0], ep.chat());
      if (text.empty()) continue;
      if (out.chunks == 0)
        out.ttft = seconds(now - st);
      else
        out.itl.push_back(seconds(now - last));
      last = now;
      ++out.chunks;
      out.generated_text += text;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  out.latency = seconds(Clock::now() - st);
  out.output_tokens = usage_tokens >= 0 ? usage_tokens : out.chunks;
  if (out.http_status != 0 && !ok_status) {
    out.error_kind = out.http_status >= 500 ? ErrorKind::kHttp5xx : ErrorKind::kHttp4xx;
    out.error = "HTTP " + std::to_string(out.http_status) + ": " + error_body;
  } else if (!sent || err != httplib::Error::Success) {
    const bool timed_out = kind_of(err) != ErrorKind::kConnect && out.latency >= ep.timeout_s * 0.99;
    out.error_kind = timed_out ? ErrorKind::kTimeout : (ok_status ? ErrorKind::kStreamCut : kind_of(err));
    out.error = httplib::to_string(err);
  } else if (server_error) {
    out.error_kind = ErrorKind::kServerError;
  } else if (!done) {
    out.error_kind = ErrorKind::kStreamCut;
    out.error = "stream ended without [DONE]";
  } else if (out.chunks == 0 && out.output_tokens > 0) {
    out.error_kind = ErrorKind::kOther;
    out.error = "no content chunk received";
  } else {
    out.success = true;
  }
  if (!out.success) out.output_tokens = 0;
  return out;
}

std::string http_get(const std::string& base_url, const std::string& path, const std::string& api_key,
                     double timeout_s, int* status) {
  httplib::Client cli(base_url);
  set_timeouts(cli, timeout_s);
  httplib::Headers h;
  if (!api_key.empty()) h.emplace("Authorization", "Bearer " + api_key);
  auto r = cli.Get(path.c_str(), h);
  if (status) *status = r ? r->status : 0;
  if (!r || r->status != 200) return "";
  return r->body;
}
}  // namespace ds::bench
