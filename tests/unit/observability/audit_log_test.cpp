#include "server/audit_log.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace ds {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dsserve_audit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream f(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(f, l);) out.push_back(l);
    return out;
  }
  static AuditRecord record(const std::string& id) {
    AuditRecord r;
    r.request_id = id;
    r.client = "127.0.0.1:40000";
    r.method = "POST";
    r.endpoint = "/v1/completions";
    r.status = 200;
    return r;
  }

  fs::path dir_;
  std::string path_;
};

TEST(AuditFingerprint, Sha256KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundary (55/56/64 bytes) agree with a streaming property:
  // different inputs, different digests, all 64 hex digits.
  std::set<std::string> seen;
  for (size_t n = 50; n < 70; ++n) {
    const std::string d = sha256_hex(std::string(n, 'x'));
    EXPECT_EQ(d.size(), 64u);
    seen.insert(d);
  }
  EXPECT_EQ(seen.size(), 20u);
}

TEST(AuditFingerprint, NeverContainsTheKey) {
  const std::string key = "sk-secret-0123456789abcdef";
  const std::string fp = api_key_fingerprint(key);
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_EQ(fp, sha256_hex(key).substr(0, 8));
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key.find(fp), std::string::npos);
  EXPECT_NE(api_key_fingerprint("other-key"), fp);
  EXPECT_EQ(api_key_fingerprint(""), "");
  // Short hex keys can't leak either: the fingerprint is a hash, not a prefix.
  EXPECT_NE(api_key_fingerprint("deadbeef"), "deadbeef");
}

TEST(AuditTruncate, CutsAtCodePoints) {
  EXPECT_EQ(truncate_utf8("hello", 3), "hel");
  EXPECT_EQ(truncate_utf8("hello", -1), "hello");
  EXPECT_EQ(truncate_utf8("hello", 0), "");
  EXPECT_EQ(truncate_utf8("hello", 10), "hello");
  EXPECT_EQ(truncate_utf8("h\xC3\xA9llo", 2), "h\xC3\xA9");              // é is one character
  EXPECT_EQ(truncate_utf8("\xF0\x9F\x98\x80" "ab", 1), "\xF0\x9F\x98\x80");  // emoji, 4 bytes
}

TEST_F(AuditLogTest, OneJsonLinePerRequest) {
  auto log = AuditLog::open({.path = path_});
  ASSERT_TRUE(log.ok()) << log.status().message();
  AuditRecord r = record("cmpl-1");
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  r.key_fingerprint = api_key_fingerprint("sk-secret");
  r.model = "r1";
  r.prompt_tokens = 12;
  r.completion_tokens = 34;
  r.finish_reason = "stop";
  r.ttft_ms = 41.25;
  r.latency_ms = 812.5;
  r.request_body = "{\"prompt\":\"secret prompt\"}";
  r.response_body = "secret answer";
  (*log)->write(r);
  r.ttft_ms.reset();
  r.request_id = "cmpl-2\nwith newline";
  (*log)->write(r);

  auto ls = lines(path_);
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0],
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"request_id\":\"cmpl-1\",\"key\":\"" + r.key_fingerprint +
                "\",\"client\":\"127.0.0.1:40000\",\"method\":\"POST\",\"endpoint\":\"/v1/completions\","
                "\"model\":\"r1\",\"status\":200,\"stream\":false,\"prompt_tokens\":12,\"completion_tokens\":34,"
                "\"finish_reason\":\"stop\",\"ttft_ms\":41.25,\"latency_ms\":812.5}");
  auto j = nlohmann::json::parse(ls[1]);
  EXPECT_EQ(j["request_id"], "cmpl-2\nwith newline");
  EXPECT_TRUE(j["ttft_ms"].is_null());
  // Bodies are off by default.
  EXPECT_EQ(ls[0].find("secret"), std::string::npos);
  EXPECT_EQ((*log)->lines_written(), 2u);
  EXPECT_EQ((*log)->write_errors(), 0u);
}

TEST_F(AuditLogTest, BodiesOnlyWhenEnabledAndCutAtMaxLogLen) {
  auto log = AuditLog::open({.path = path_, .log_bodies = true, .max_log_len = 5});
  ASSERT_TRUE(log.ok());
  AuditRecord r = record("a");
  r.request_body = "0123456789";
  r.response_body = "h\xC3\xA9llo w\xC3\xB6rld";
  (*log)->write(r);
  auto j = nlohmann::json::parse(lines(path_).at(0));
  EXPECT_EQ(j["request_body"], "01234");
  EXPECT_EQ(j["response_body"], "h\xC3\xA9llo");

  auto unlimited = AuditLog::open({.path = path_ + ".u", .log_bodies = true});
  r.request_body = std::string(10000, 'x') + "\xFF";  // invalid UTF-8 is replaced, not thrown
  (*unlimited)->write(r);
  auto j2 = nlohmann::json::parse(lines(path_ + ".u").at(0));
  EXPECT_EQ(j2["request_body"].get<std::string>().size(), 10000u + 3u);  // U+FFFD is 3 bytes
}

TEST_F(AuditLogTest, RotationBySizeKeepsNFilesAndWholeLines) {
  constexpr uint64_t kMaxBytes = 1000;
  auto log = AuditLog::open({.path = path_, .max_bytes = kMaxBytes, .max_files = 3});
  ASSERT_TRUE(log.ok());
  constexpr int kLines = 200;
  for (int i = 0; i < kLines; ++i) (*log)->write(record("req-" + std::to_string(i)));

  // FILE, FILE.1 .. FILE.3 and nothing else.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"audit.log", "audit.log.1", "audit.log.2", "audit.log.3"}));

  // Every file is within the limit, holds only whole JSON lines, and the newest lines are
  // consecutive across files, oldest in FILE.3.
  std::vector<int> ids;
  for (const char* suffix : {".3", ".2", ".1", ""}) {
    const std::string p = path_ + suffix;
    EXPECT_LE(fs::file_size(p), kMaxBytes) << p;
    std::ifstream f(p);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back(), '\n') << p;
    for (const auto& l : lines(p)) {
      auto j = nlohmann::json::parse(l);  // throws (fails the test) on a split line
      ids.push_back(std::stoi(j["request_id"].get<std::string>().substr(4)));
    }
  }
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), kLines - 1);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(ids[i], ids[i - 1] + 1);
  EXPECT_EQ((*log)->write_errors(), 0u);
}

TEST_F(AuditLogTest, LineLargerThanLimitGetsItsOwnFile) {
  auto log = AuditLog::open({.path = path_, .max_bytes = 100, .max_files = 2, .log_bodies = true});
  ASSERT_TRUE(log.ok());
  (*log)->write(record("small"));
  AuditRecord big = record("big");
  big.request_body = std::string(500, 'b');
  (*log)->write(big);
  (*log)->write(record("after"));
  EXPECT_EQ(nlohmann::json::parse(lines(path_ + ".2").at(0))["request_id"], "small");
  EXPECT_EQ(nlohmann::json::parse(lines(path_ + ".1").at(0))["request_id"], "big");
  EXPECT_EQ(lines(path_ + ".1").size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines(path_).at(0))["request_id"], "after");
}

TEST_F(AuditLogTest, ZeroMaxFilesKeepsOnlyTheCurrentFile) {
  auto log = AuditLog::open({.path = path_, .max_bytes = 300, .max_files = 0});
  for (int i = 0; i < 20; ++i) (*log)->write(record(std::to_string(i)));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  EXPECT_EQ(nlohmann::json::parse(lines(path_).back())["request_id"], "19");
}

// logrotate: `mv audit.log audit.log.1` then `kill -HUP`; the handler only bumps an atomic; the
// next write opens a new audit.log. Lines before the HUP stay in the moved file.
TEST_F(AuditLogTest, ReopenAfterExternalRenameViaSighup) {
  auto log = AuditLog::open({.path = path_});
  ASSERT_TRUE(log.ok());
  (*log)->write(record("before-1"));
  (*log)->write(record("before-2"));
  fs::rename(path_, path_ + ".1");
  (*log)->write(record("after-rename"));  // no signal yet: still the moved file (open fd)
  EXPECT_FALSE(fs::exists(path_));

  struct sigaction sa{}, old{};
  sa.sa_handler = [](int) { AuditLog::on_sighup(); };
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGHUP, &sa, &old), 0);
  ASSERT_EQ(::raise(SIGHUP), 0);
  sigaction(SIGHUP, &old, nullptr);

  (*log)->write(record("after-hup-1"));
  (*log)->write(record("after-hup-2"));
  auto moved = lines(path_ + ".1");
  auto fresh = lines(path_);
  ASSERT_EQ(moved.size(), 3u);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(moved[2])["request_id"], "after-rename");
  EXPECT_EQ(nlohmann::json::parse(fresh[0])["request_id"], "after-hup-1");

  // The per-log flag path does the same.
  fs::rename(path_, path_ + ".2");
  (*log)->request_reopen();
  (*log)->write(record("after-flag"));
  EXPECT_EQ(lines(path_).size(), 1u);
  EXPECT_EQ(lines(path_ + ".2").size(), 2u);
  EXPECT_EQ((*log)->write_errors(), 0u);
}

TEST_F(AuditLogTest, ConcurrentWritersNeverInterleaveLines) {
  auto log = AuditLog::open({.path = path_, .max_bytes = 20000, .max_files = 100, .log_bodies = true});
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8, kPer = 250;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        AuditRecord r = record(std::to_string(t) + "-" + std::to_string(i));
        r.request_body = std::string(size_t(i % 50), char('a' + t));
        (*log)->write(r);
        if (i == kPer / 2 && t == 0) AuditLog::on_sighup();  // a reopen in the middle of traffic
      }
    });
  }
  for (auto& t : ts) t.join();
  size_t total = 0;
  std::set<std::string> ids;
  for (const auto& e : fs::directory_iterator(dir_)) {
    for (const auto& l : lines(e.path().string())) {
      auto j = nlohmann::json::parse(l);
      ids.insert(j["request_id"].get<std::string>());
      ++total;
    }
  }
  EXPECT_EQ(total, size_t(kThreads * kPer));
  EXPECT_EQ(ids.size(), size_t(kThreads * kPer));
  EXPECT_EQ((*log)->lines_written(), uint64_t(kThreads * kPer));
}

TEST_F(AuditLogTest, OpenFailsClearly) {
  auto log = AuditLog::open({.path = (dir_ / "missing" / "audit.log").string()});
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("--log-file"), std::string::npos);
  EXPECT_FALSE(AuditLog::open({.path = ""}).ok());
}

}  // namespace
}  // namespace ds
