#include "server/auth.h"

#include "server/audit_log.h"

#include <cstdint>
#include <cstdio>

namespace ds::server {
namespace {
constexpr std::string_view kBearer = "Bearer ";

std::string_view bearer_token(std::string_view h) {
  if (h.size() < kBearer.size()) return {};
  for (size_t i = 0; i < kBearer.size() - 1; ++i)  // scheme is case-insensitive
    if ((h[i] | 0x20) != (kBearer[i] | 0x20)) return {};
  if (h[kBearer.size() - 1] != ' ') return {};
  h.remove_prefix(kBearer.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\r')) h.remove_suffix(1);
  return h;
}
}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Compare over the longer length so a short guess costs as much as a long one.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = unsigned(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? (unsigned char)a[i] : 0;
    const unsigned char y = i < b.size() ? (unsigned char)b[i] : 0;
    diff |= unsigned(x ^ y);
  }
  return diff == 0;
}

bool ApiKeyAuth::check(std::string_view header) const {
  if (keys_.empty()) return true;
  const std::string_view token = bearer_token(header);
  bool ok = false;
  for (const std::string& k : keys_) ok |= constant_time_equal(token, k);  // no early exit
  return ok && !token.empty();
}

std::string key_fingerprint(std::string_view header) {
  const std::string_view token = bearer_token(header);
  if (token.empty()) return "";
  return api_key_fingerprint(token);  // first 8 hex digits of SHA-256
}

bool is_open_path(const std::string& path, bool metrics_public) {
  if (path == "/health" || path == "/version" || path == "/ping") return true;
  return metrics_public && path == "/metrics";
}

}  // namespace ds::server
