#pragma once
// API-key authentication: `Authorization: Bearer KEY` compared in constant time against every
// configured key (--api-key, several, plus env DSSERVE_API_KEY). Thread-safe (immutable).
#include <string>
#include <string_view>
#include <vector>

namespace ds::server {

class ApiKeyAuth {
 public:
  explicit ApiKeyAuth(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  bool enabled() const { return !keys_.empty(); }
  // True when auth is off or the header carries one of the keys.
  bool check(std::string_view authorization_header) const;

 private:
  std::vector<std::string> keys_;
};

// Constant-time in the contents (time depends only on the lengths).
bool constant_time_equal(std::string_view a, std::string_view b);
// Which key a request used, for audit logs (SHA-256 prefix, see audit_log.h): "" without a key.
std::string key_fingerprint(std::string_view authorization_header);
// Path classes: /health, /version, /ping are always open; /metrics is open with --metrics-public.
// The fingerprint of a request's Authorization header.
template <class Req>
std::string key_fingerprint_of(const Req& req) { return key_fingerprint(req.get_header_value("Authorization")); }
bool is_open_path(const std::string& path, bool metrics_public);

}  // namespace ds::server
