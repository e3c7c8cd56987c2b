#pragma once
// Listener: the httplib::Server that HttpServer routes on, with an accept loop that outlives
// accept() errors. httplib 0.11's listen() ends on any accept() error but EMFILE: it closes the
// listening socket, waits for every open connection and returns. One transient error thus stopped
// the server from taking connections and let the process exit 0 once the last stream ended (the
// likely cause of a CI failure: /metrics unreachable after 1,000 streams, exit status 0).
// run() binds again and goes on listening instead; the worker pool outlives each listen(), so
// open connections are not waited for in between.
// Threads: run() on the HTTP thread, stop() from another (the signal thread).
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

namespace ds::server {

class Listener : public httplib::Server {
 public:
  explicit Listener(int threads);
  ~Listener() override;

  // Binds host:port (port 0: any free port, see port()) and raises the listen backlog (httplib's compiled-in one is 5; a burst of
  // hundreds of connects would see SYN retries of a second or more). False if it cannot listen.
  bool bind(const std::string& host, int port, int backlog);
  // Serves until stop(). When an accept() error ends httplib's loop, `warn` is told the error and
  // the socket is bound again (accepting resumes after a pause that doubles, 1 ms to 1 s, while
  // errors come less than a second apart, so a lasting error does not spin). Returns false only when that bind failed (the port was taken in
  // between); every open connection has finished when it returns.
  bool run(const std::function<void(const std::string&)>& warn);
  // Ends run()'s accept loop and stops reading from open connections: idle keep-alive ones close
  // at once, busy ones after their response. Returns at once if run() has not started (run()
  // then returns at once).
  void stop();

  int port() const { return port_; }
  int relistens() const { return relistens_; }
  // The listening socket, for tests that make accept() fail.
  socket_t listening_socket() const { return svr_sock_; }

 private:
  class PoolHandle;
  void end_reading_connections() const;
  std::unique_ptr<httplib::ThreadPool> pool_;
  std::string host_;
  int port_ = 0;
  int backlog_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> run_started_{false};
  std::atomic<bool> loop_done_{false};
  std::atomic<int> relistens_{0};
};

}  // namespace ds::server
