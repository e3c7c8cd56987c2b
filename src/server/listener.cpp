#include "server/listener.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace ds::server {

// The TaskQueue httplib makes for each listen() call: it hands connections to the long-lived pool
// and does not shut the pool down when listen() returns (run() does, once it stops listening).
class Listener::PoolHandle : public httplib::TaskQueue {
 public:
  explicit PoolHandle(httplib::ThreadPool& pool) : pool_(pool) {}
  void enqueue(std::function<void()> fn) override { pool_.enqueue(std::move(fn)); }
  void shutdown() override {}

 private:
  httplib::ThreadPool& pool_;
};

Listener::Listener(int threads) : pool_(std::make_unique<httplib::ThreadPool>(size_t(threads))) {
  new_task_queue = [this] { return new PoolHandle(*pool_); };
}

Listener::~Listener() {
  stop();
  if (!loop_done_) pool_->shutdown();  // run() never ran: its workers still wait for jobs
}

bool Listener::bind(const std::string& host, int port, int backlog) {
  host_ = host;
  backlog_ = backlog;
  if (port == 0) {  // any free port (tests); listening again reuses the one it got
    port = bind_to_any_port(host);
    if (port < 0) return false;
  } else if (!bind_to_port(host, port)) {
    return false;
  }
  port_ = port;
  if (const socket_t s = svr_sock_; s != INVALID_SOCKET) ::listen(s, backlog);  // Linux raises it in place
  return true;
}

bool Listener::run(const std::function<void(const std::string&)>& warn) {
  run_started_ = true;
  bool ok = true;
  bool fresh = false;  // bound again, not listened on yet
  auto pause = std::chrono::milliseconds(0);  // grows while accept() keeps failing at once
  while (!stopping_) {
    if (pause.count() > 0) std::this_thread::sleep_for(pause);  // connections queue in the backlog meanwhile
    fresh = false;
    errno = 0;
    const auto started = std::chrono::steady_clock::now();
    listen_after_bind();  // returns on stop() or after an accept() error closed the socket
    const int err = errno;  // httplib leaves the failed accept()'s errno (close() succeeds)
    if (stopping_) break;
    const bool at_once = std::chrono::steady_clock::now() - started < std::chrono::seconds(1);
    pause = at_once ? std::clamp(pause * 2, std::chrono::milliseconds(1), std::chrono::milliseconds(1000))
                    : std::chrono::milliseconds(0);
    relistens_++;
    warn(std::string("accept() failed (") + (err ? std::strerror(err) : "unknown error") + "); listening again on " +
         host_ + ":" + std::to_string(port_));
    if (!bind(host_, port_, backlog_)) {
      warn("cannot listen on " + host_ + ":" + std::to_string(port_) + " again; no new connections are taken");
      ok = false;
      break;
    }
    fresh = true;
  }
  if (fresh) ::close(svr_sock_.exchange(INVALID_SOCKET));  // stop() came between bind and listen
  loop_done_ = true;
  pool_->shutdown();  // waits for each open connection's worker
  return ok;
}

void Listener::stop() {
  stopping_ = true;
  // httplib's stop() acts only while listen() runs; run() may be between two listen() calls.
  while (run_started_ && !loop_done_) {
    if (is_running() && svr_sock_ != INVALID_SOCKET) httplib::Server::stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (run_started_) end_reading_connections();
}

// httplib's keep-alive wait polls an idle connection until its timeout (20 s) and does not look at
// stop(), so one idle connection (nginx keeps a pool of them) held the exit back for 20 s. It
// keeps no list of its connections; they are the sockets of this process whose local port is the
// one listened on and that have a peer. shutdown(SHUT_RD) makes each wait see end-of-file: an idle
// connection closes at once, one that is answering finishes its response first.
void Listener::end_reading_connections() const {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (::fstat(int(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t n = sizeof(local), m = sizeof(peer);
    if (::getsockname(int(fd), reinterpret_cast<sockaddr*>(&local), &n) != 0) continue;
    int port = -1;
    if (local.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
    if (local.ss_family == AF_INET6) port = ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
    if (port != port_ || ::getpeername(int(fd), reinterpret_cast<sockaddr*>(&peer), &m) != 0) continue;
    ::shutdown(int(fd), SHUT_RD);
  }
  ::closedir(dir);
}

}  // namespace ds::server
