// Listener: an accept() error (made here by shutting the listening socket down, which makes
// accept() fail with EINVAL) does not end serving: run() binds the port again, a request in flight
// at that moment still gets its answer, and new connections are taken afterwards. stop() ends
// run() without waiting out the keep-alive timeout of an idle connection.
#include "server/listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ds::server {
namespace {

using namespace std::chrono_literals;

struct Served {
  Listener listener{4};
  std::mutex mu;
  std::vector<std::string> warnings;
  std::thread thread;
  bool result = false;
  std::promise<void> slow_entered, slow_release;  // /slow is answered once released (one call)
  std::once_flag released;
  void release_slow() { std::call_once(released, [this] { slow_release.set_value(); }); }

  explicit Served(time_t keep_alive_s = 5) {
    listener.set_keep_alive_timeout(keep_alive_s);
    listener.Get("/ping", [](const httplib::Request&, httplib::Response& r) { r.set_content("pong", "text/plain"); });
    listener.Get("/slow", [this](const httplib::Request&, httplib::Response& r) {
      slow_entered.set_value();
      slow_release.get_future().wait();
      r.set_content("late", "text/plain");
    });
    EXPECT_TRUE(listener.bind("127.0.0.1", 0, 64));
    thread = std::thread([this] {
      result = listener.run([this](const std::string& m) {
        std::lock_guard<std::mutex> lock(mu);
        warnings.push_back(m);
      });
    });
  }
  ~Served() {
    release_slow();  // a failed check must not leave /slow's worker waiting
    listener.stop();
    if (thread.joinable()) thread.join();
  }
  std::string get(const std::string& path) {
    httplib::Client c("127.0.0.1", listener.port());
    c.set_connection_timeout(5, 0);
    auto r = c.Get(path.c_str());
    if (!r) return "error " + httplib::to_string(r.error());
    return std::to_string(r->status) + " " + r->body;
  }
};

TEST(Listener, AcceptErrorListensAgainAndKeepsInFlightRequests) {
  Served s;
  ASSERT_EQ(s.get("/ping"), "200 pong");
  auto slow = std::async(std::launch::async, [&] { return s.get("/slow"); });
  s.slow_entered.get_future().wait();  // /slow is being handled now
  ASSERT_EQ(::shutdown(s.listener.listening_socket(), SHUT_RDWR), 0);
  for (int i = 0; i < 1000 && s.listener.relistens() == 0; i++) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(s.listener.relistens(), 1);
  EXPECT_EQ(s.get("/ping"), "200 pong");
  s.release_slow();
  EXPECT_EQ(slow.get(), "200 late");
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ASSERT_EQ(s.warnings.size(), 1u);
    EXPECT_NE(s.warnings[0].find("accept() failed (Invalid argument)"), std::string::npos) << s.warnings[0];
  }
  s.listener.stop();
  s.thread.join();
  EXPECT_TRUE(s.result);
}

TEST(Listener, StopEndsRunAndRefusesConnections) {
  Served s;
  ASSERT_EQ(s.get("/ping"), "200 pong");
  s.listener.stop();
  s.thread.join();
  EXPECT_TRUE(s.result);
  EXPECT_EQ(s.listener.relistens(), 0);
  EXPECT_EQ(s.get("/ping").rfind("error", 0), 0u);
}

// httplib waits out the keep-alive timeout of an idle connection; stop() makes it end at once.
TEST(Listener, StopClosesIdleKeepAliveConnections) {
  Served s(30);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(s.listener.port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
  std::string got;
  char buf[512];
  while (got.find("pong") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, size_t(n));
  }
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  // The connection is open and idle now.
  const auto t0 = std::chrono::steady_clock::now();
  s.listener.stop();
  s.thread.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);  // not the 30 s keep-alive wait
  EXPECT_TRUE(s.result);
  EXPECT_EQ(::recv(fd, buf, sizeof(buf), 0), 0);  // the server closed it
  ::close(fd);
}

TEST(Listener, StopBeforeRunMakesRunReturn) {
  Listener l(2);
  ASSERT_TRUE(l.bind("127.0.0.1", 0, 8));
  l.stop();
  EXPECT_TRUE(l.run([](const std::string&) {}));
}

}  // namespace
}  // namespace ds::server
