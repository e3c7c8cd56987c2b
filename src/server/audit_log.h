#pragma once
// Audit log: one JSON object per line per request, appended to --log-file, with size rotation
// (--log-max-bytes, --log-max-files: FILE, FILE.1 ... FILE.N, FILE.1 newest) and reopen on SIGHUP
// so that logrotate's "move, then postrotate kill -HUP" works.
//
// A line looks like (keys always in this order; null where unknown):
//   {"time":"2025-03-01T12:00:00.123Z","request_id":"chatcmpl-1","key":"9f86d081",
//    "client":"127.0.0.1:51234","method":"POST","endpoint":"/v1/chat/completions","model":"r1",
//    "status":200,"stream":true,"prompt_tokens":12,"completion_tokens":34,"finish_reason":"stop",
//    "ttft_ms":41.2,"latency_ms":812.5}
// plus "request_body" / "response_body" only with --enable-log-requests, each cut to
// --max-log-len characters (Unicode code points).
//
// Threads: write() from any thread (a mutex serialises lines; each line is one write(2), so the
// file is flushed line by line and a line is never split across files). request_reopen() and
// AuditLog::on_sighup() are async-signal-safe: they only bump an atomic; the next write()
// reopens the path before writing.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ds {

struct AuditLogConfig {
  std::string path;            // --log-file
  uint64_t max_bytes = 0;      // --log-max-bytes; 0 = never rotate by size
  int32_t max_files = 5;       // --log-max-files: rotated files kept (FILE.1..FILE.N); 0 = none
  bool log_bodies = false;     // --enable-log-requests
  int64_t max_log_len = -1;    // --max-log-len; < 0 = unlimited
};

struct AuditRecord {
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();  // arrival
  std::string request_id;
  std::string key_fingerprint;  // api_key_fingerprint(key), empty when no key was sent
  std::string client;           // "address:port"
  std::string method;           // "POST"
  std::string endpoint;         // "/v1/chat/completions"
  std::string model;
  int32_t status = 0;           // HTTP status
  bool stream = false;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  std::string finish_reason;    // "stop" | "length" | "abort" | "" (error before generation)
  std::optional<double> ttft_ms;
  double latency_ms = 0;
  std::string request_body;     // only rendered with log_bodies
  std::string response_body;    // only rendered with log_bodies (the full text for streams)
};

// First 8 hex digits of SHA-256(key): identifies which key was used without revealing it
// (operators can match with `printf %s KEY | sha256sum | cut -c1-8`). "" for an empty key.
std::string api_key_fingerprint(std::string_view key);
std::string sha256_hex(std::string_view data);

// Cuts `s` to at most `max_chars` Unicode code points (never inside a UTF-8 sequence);
// max_chars < 0 means no limit.
std::string truncate_utf8(std::string_view s, int64_t max_chars);

class AuditLog {
 public:
  // Opens (creates, appends to) cfg.path. Error if it can't be opened.
  static Result<std::unique_ptr<AuditLog>> open(AuditLogConfig cfg);
  ~AuditLog();

  // Any thread. Formats and appends one line; rotates first if the line would push the file
  // past max_bytes; reopens first if a reopen was requested. I/O errors are counted, never thrown.
  void write(const AuditRecord& r);
  // The line write() would append (without the trailing newline).
  std::string format(const AuditRecord& r) const;

  // Async-signal-safe: asks this log to reopen its path before the next write.
  void request_reopen() noexcept { reopen_requested_.store(true, std::memory_order_relaxed); }
  // Async-signal-safe, for a SIGHUP handler: asks every AuditLog in the process to reopen
  // before its next write. E.g. `signal(SIGHUP, [](int) { ds::AuditLog::on_sighup(); });`
  static void on_sighup() noexcept;
  // Any thread: reopen now (closes the current file; opens/creates cfg.path).
  Status reopen();

  uint64_t lines_written() const { return lines_.load(); }
  uint64_t write_errors() const { return errors_.load(); }
  const AuditLogConfig& config() const { return cfg_; }

 private:
  explicit AuditLog(AuditLogConfig cfg) : cfg_(std::move(cfg)) {}
  Status open_locked();
  void rotate_locked();
  void write_line_locked(const std::string& line);

  AuditLogConfig cfg_;
  std::mutex mu_;
  int fd_ = -1;
  uint64_t size_ = 0;           // bytes in the current file
  uint64_t sighup_seen_ = 0;    // value of the process-wide SIGHUP generation at last open
  std::atomic<bool> reopen_requested_{false};
  std::atomic<uint64_t> lines_{0}, errors_{0};
};

}  // namespace ds
