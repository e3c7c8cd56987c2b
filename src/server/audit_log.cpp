#include "server/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

namespace ds {

namespace {

// Bumped by AuditLog::on_sighup() from a signal handler; each log compares it with the value it
// saw at its last open. A lock-free atomic is async-signal-safe.
std::atomic<uint64_t> g_sighup_generation{0};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// ---- SHA-256 (FIPS 180-4) ----

constexpr std::array<uint32_t, 64> kSha256K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void sha256_block(std::array<uint32_t, 8>& h, const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
  }
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kSha256K[size_t(i)] + w[i];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = std::time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms - int64_t(secs) * 1000));
  return buf;
}

double round_ms(double v) { return std::round(v * 1000.0) / 1000.0; }  // microsecond resolution

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  size_t i = 0;
  for (; i + 64 <= data.size(); i += 64) sha256_block(h, reinterpret_cast<const uint8_t*>(data.data() + i));
  // Padding: 0x80, zeros, 64-bit big-endian bit length; one or two final blocks.
  uint8_t tail[128] = {};
  const size_t rest = data.size() - i;
  std::memcpy(tail, data.data() + i, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest + 9 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t(data.size()) * 8;
  for (int b = 0; b < 8; ++b) tail[tail_len - 1 - size_t(b)] = uint8_t(bits >> (8 * b));
  for (size_t off = 0; off < tail_len; off += 64) sha256_block(h, tail + off);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h) {
    for (int s = 28; s >= 0; s -= 4) out += kHex[(v >> s) & 0xf];
  }
  return out;
}

std::string api_key_fingerprint(std::string_view key) {
  if (key.empty()) return "";
  return sha256_hex(key).substr(0, 8);
}

std::string truncate_utf8(std::string_view s, int64_t max_chars) {
  if (max_chars < 0) return std::string(s);
  size_t pos = 0;
  for (int64_t n = 0; n < max_chars && pos < s.size(); ++n) {
    ++pos;  // skip continuation bytes (10xxxxxx) of this code point
    while (pos < s.size() && (uint8_t(s[pos]) & 0xC0) == 0x80) ++pos;
  }
  return std::string(s.substr(0, pos));
}

// ---- AuditLog ----

Result<std::unique_ptr<AuditLog>> AuditLog::open(AuditLogConfig cfg) {
  if (cfg.path.empty()) return invalid_argument("--log-file: empty path");
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(cfg)));
  std::lock_guard lock(log->mu_);
  DS_RETURN_IF_ERROR(log->open_locked());
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::on_sighup() noexcept { g_sighup_generation.fetch_add(1, std::memory_order_relaxed); }

Status AuditLog::open_locked() {
  // Take the generation before opening: a SIGHUP that lands during the open triggers another.
  sighup_seen_ = g_sighup_generation.load(std::memory_order_relaxed);
  const int fd = ::open(cfg_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return io_error("--log-file " + cfg_.path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st{};
  const uint64_t size = ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0;
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = size;
  return Status::ok();
}

Status AuditLog::reopen() {
  std::lock_guard lock(mu_);
  reopen_requested_.store(false, std::memory_order_relaxed);
  return open_locked();
}

// FILE.(N-1) -> FILE.N, ..., FILE -> FILE.1 (FILE.N, the oldest, is overwritten), then a new FILE.
void AuditLog::rotate_locked() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (cfg_.max_files <= 0) {
    ::unlink(cfg_.path.c_str());
  } else {
    for (int32_t i = cfg_.max_files - 1; i >= 1; --i) {
      const std::string from = cfg_.path + "." + std::to_string(i);
      ::rename(from.c_str(), (cfg_.path + "." + std::to_string(i + 1)).c_str());  // ENOENT is fine
    }
    ::rename(cfg_.path.c_str(), (cfg_.path + ".1").c_str());
  }
  if (!open_locked().is_ok()) errors_.fetch_add(1);
}

void AuditLog::write_line_locked(const std::string& line) {
  if (fd_ < 0 && !open_locked().is_ok()) {
    errors_.fetch_add(1);
    return;
  }
  // One write(2) per line with O_APPEND: the line reaches the file whole and at once (no user
  // space buffer to flush); the loop only covers signals and short writes.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      errors_.fetch_add(1);
      return;
    }
    done += size_t(n);
  }
  size_ += done;
  lines_.fetch_add(1);
}

void AuditLog::write(const AuditRecord& r) {
  std::string line = format(r);
  line += '\n';
  std::lock_guard lock(mu_);
  const bool hup = g_sighup_generation.load(std::memory_order_relaxed) != sighup_seen_;
  if (reopen_requested_.exchange(false, std::memory_order_relaxed) || hup) {
    if (!open_locked().is_ok()) errors_.fetch_add(1);  // keeps writing to the old file if any
  }
  if (cfg_.max_bytes > 0 && size_ > 0 && size_ + line.size() > cfg_.max_bytes) rotate_locked();
  write_line_locked(line);
}

std::string AuditLog::format(const AuditRecord& r) const {
  nlohmann::ordered_json j;
  j["time"] = iso8601_utc(r.time);
  j["request_id"] = r.request_id;
  j["key"] = r.key_fingerprint.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.key_fingerprint);
  j["client"] = r.client;
  j["method"] = r.method;
  j["endpoint"] = r.endpoint;
  j["model"] = r.model;
  j["status"] = r.status;
  j["stream"] = r.stream;
  j["prompt_tokens"] = r.prompt_tokens;
  j["completion_tokens"] = r.completion_tokens;
  j["finish_reason"] = r.finish_reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.finish_reason);
  j["ttft_ms"] = r.ttft_ms ? nlohmann::ordered_json(round_ms(*r.ttft_ms)) : nlohmann::ordered_json(nullptr);
  j["latency_ms"] = round_ms(r.latency_ms);
  if (cfg_.log_bodies) {
    j["request_body"] = truncate_utf8(r.request_body, cfg_.max_log_len);
    j["response_body"] = truncate_utf8(r.response_body, cfg_.max_log_len);
  }
  // Invalid UTF-8 in a body becomes U+FFFD rather than an exception; dump() escapes control
  // characters and newlines, so a record is always exactly one line.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace ds
