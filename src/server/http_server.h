#pragma once
// HttpServer: cpp-httplib with routes, auth, CORS, body limits and a thread pool large enough
// for many concurrent streams (each open SSE stream holds one worker thread).
// Threads: start()/run() on the main thread; drain_and_stop() from the signal thread.
#include <memory>

#include "common/status.h"
#include "server/server_context.h"

namespace ds::server {

class HttpServer {
 public:
  explicit HttpServer(ServerContext& ctx);
  ~HttpServer();
  // Binds host:port (error if taken). Requests are answered (503 until ctx.ready) once run() runs.
  Status bind();
  // Blocks serving until drain_and_stop(); returns after every worker has finished. An accept()
  // error does not end it (see Listener); an error only if the port could not be bound again.
  Status run();
  // Stops taking new generation requests (503), waits up to --shutdown-timeout for in-flight ones,
  // aborts what is left (clients get a finish_reason "abort" event), then stops the listener.
  void drain_and_stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::server
