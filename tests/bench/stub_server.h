#pragma once
// A stub OpenAI-compatible streaming server with fixed, known timing, for testing `dsserve bench`:
// first chunk after ttft_ms, then one chunk (one token) every tpot_ms, `tokens` tokens in all, then
// a usage chunk and [DONE]. Modes make it fail: HTTP 500, or cut the stream after `cut_after` tokens.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace ds::bench::testing {

struct StubOptions {
  int ttft_ms = 50, tpot_ms = 20, tokens = 16;
  enum Mode { kOk, k500, kCut, k400 } mode = kOk;
  int cut_after = 4;
};

class StubServer {
 public:
  explicit StubServer(StubOptions o) : o_(o) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      if (o_.mode == StubOptions::k500) {
        res.status = 500;
        res.set_content(R"({"error":{"message":"boom","type":"internal_error"}})", "application/json");
        return;
      }
      if (o_.mode == StubOptions::k400) {
        res.status = 400;
        res.set_content(R"({"error":{"message":"bad","type":"invalid_request_error"}})", "application/json");
        return;
      }
      const bool chat = req.path.find("chat") != std::string::npos;
      const auto t0 = std::chrono::steady_clock::now();
      res.set_chunked_content_provider("text/event-stream", [this, chat, t0, i = 0](size_t, httplib::DataSink& sink) mutable {
        if (i > o_.tokens) return false;
        if (i == o_.tokens) {  // usage then [DONE]
          std::string u = R"(data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":)" +
                          std::to_string(o_.tokens) + R"(,"total_tokens":)" + std::to_string(7 + o_.tokens) + "}}\n\n";
          u += "data: [DONE]\n\n";
          sink.write(u.data(), u.size());
          sink.done();
          ++i;
          return true;
        }
        if (o_.mode == StubOptions::kCut && i == o_.cut_after) return false;  // drop the connection
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(o_.ttft_ms + i * o_.tpot_ms));
        std::string ev = chat ? R"(data: {"choices":[{"index":0,"delta":{"content":"t"}}]})"
                              : R"(data: {"choices":[{"index":0,"text":"t"}]})";
        ev += "\n\n";
        ++i;
        return sink.write(ev.data(), ev.size());
      });
    };
    srv_.Post("/v1/completions", handler);
    srv_.Post("/v1/chat/completions", handler);
    srv_.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("process_resident_memory_bytes 1048576\n", "text/plain");
    });
    srv_.set_tcp_nodelay(true);  // as dsserve serve does: each token chunk leaves at once
    port_ = srv_.bind_to_any_port("127.0.0.1");
    th_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~StubServer() {
    srv_.stop();
    th_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  StubOptions o_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread th_;
  std::atomic<int> requests_{0};
};
}  // namespace ds::bench::testing
