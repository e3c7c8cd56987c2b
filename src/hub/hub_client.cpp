#include "hub/hub_client.h"

#include <cstdio>
#include <memory>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/json_nesting.h"

namespace ds::hub {

namespace {

constexpr int kMaxRedirects = 5;

struct Url {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "/..." (with query)
};

Result<Url> split_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return invalid_argument("'" + url + "' is not an http(s) URL");
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return Url{url, "/"};
  return Url{url.substr(0, path_start), url.substr(path_start)};
}

std::unique_ptr<httplib::Client> make_client(const std::string& origin) {
  auto c = std::make_unique<httplib::Client>(origin);
  c->set_connection_timeout(10, 0);
  c->set_read_timeout(60, 0);
  c->set_write_timeout(30, 0);
  c->set_follow_location(false);  // redirects are followed by hand so the token never leaves the hub
  c->set_keep_alive(false);
  return c;
}

std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "could not connect: no network, DNS or proxy problem?";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "connection lost while reading";
    case httplib::Error::Write: return "connection lost while writing";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "could not load the system CA certificates";
    case httplib::Error::SSLServerVerification: return "the server's TLS certificate is not trusted";
    default: return httplib::to_string(e);
  }
}

std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

int64_t header_int(const httplib::Headers& h, const char* name) {
  auto it = h.find(name);
  if (it == h.end()) return -1;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string header(const httplib::Headers& h, const char* name) {
  auto it = h.find(name);  // httplib compares header names case-insensitively
  return it == h.end() ? std::string() : it->second;
}

// A Location header relative to `base` (absolute, or a path on the same origin).
std::string resolve_location(const Url& base, const std::string& loc) {
  if (loc.find("://") != std::string::npos) return loc;
  if (!loc.empty() && loc[0] == '/') return base.origin + loc;
  const size_t slash = base.path.rfind('/');
  return base.origin + base.path.substr(0, slash + 1) + loc;
}

Status http_status_error(int status, const std::string& what, const httplib::Headers& h) {
  const std::string hint = header(h, "X-Error-Message");
  const std::string extra = hint.empty() ? "" : " (" + hint + ")";
  if (status == 401 || status == 403) {
    return invalid_argument(what + ": access denied (HTTP " + std::to_string(status) + ")" + extra +
                            "; for a gated or private model set HF_TOKEN to a token that has access");
  }
  if (status == 404) return not_found(what + ": not found (HTTP 404)" + extra);
  if (status >= 500 || status == 429) return io_error(what + ": the hub answered HTTP " + std::to_string(status) + extra);
  return invalid_argument(what + ": HTTP " + std::to_string(status) + extra);
}

}  // namespace

std::string url_encode(const std::string& s, bool keep_slash) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(char(c));
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

HubClient::HubClient(std::string endpoint, std::string token) : endpoint_(std::move(endpoint)), token_(std::move(token)) {}

Result<RepoInfo> HubClient::repo_info(const std::string& repo_id, const std::string& revision) const {
  DS_ASSIGN_OR_RETURN(Url url, split_url(endpoint_ + "/api/models/" + repo_id + "/revision/" + url_encode(revision, false)));
  auto cli = make_client(url.origin);
  httplib::Headers h = {{"Accept", "application/json"}};
  if (!token_.empty()) h.emplace("Authorization", "Bearer " + token_);
  const std::string what = repo_id + " (revision " + revision + ")";
  auto res = cli->Get(url.path, h);
  if (!res) return io_error("cannot reach " + endpoint_ + " (" + describe(res.error()) + ")");
  if (res->status != 200) {
    if (res->status == 404) {
      return not_found(what + ": no such model or revision on " + endpoint_ +
                       " (a private or gated model also answers 404 without HF_TOKEN)");
    }
    return http_status_error(res->status, what, res->headers);
  }
  nlohmann::json j;
  if (json_nesting_within(res->body)) j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("sha") || !j["sha"].is_string()) {
    return invalid_argument(what + ": the hub's answer has no commit hash (\"sha\")");
  }
  RepoInfo info;
  info.commit = j["sha"].get<std::string>();
  if (j.contains("siblings") && j["siblings"].is_array()) {
    for (const auto& s : j["siblings"]) {
      if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string()) info.files.push_back(s["rfilename"]);
    }
  }
  return info;
}

Result<FileMetadata> HubClient::file_metadata(const std::string& repo_id, const std::string& revision,
                                              const std::string& path) const {
  std::string current = endpoint_ + "/" + repo_id + "/resolve/" + url_encode(revision, false) + "/" + url_encode(path, true);
  DS_ASSIGN_OR_RETURN(const Url hub, split_url(endpoint_));
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    DS_ASSIGN_OR_RETURN(Url url, split_url(current));
    auto cli = make_client(url.origin);
    httplib::Headers h = {{"Accept-Encoding", "identity"}};
    if (!token_.empty() && url.origin == hub.origin) h.emplace("Authorization", "Bearer " + token_);
    auto res = cli->Head(url.path, h);
    if (!res) return io_error("cannot reach " + url.origin + " (" + describe(res.error()) + ")");
    const auto& rh = res->headers;
    const bool redirect = res->status >= 300 && res->status < 400;
    if (redirect && header(rh, "Location").empty()) return invalid_argument(path + ": redirect without Location");
    // The hub answers an LFS file with a redirect to storage that already carries the metadata.
    if (redirect && (header(rh, "X-Linked-Etag").empty() || header(rh, "Location")[0] == '/')) {
      current = resolve_location(url, header(rh, "Location"));
      continue;
    }
    if (!redirect && res->status != 200) return http_status_error(res->status, repo_id + "/" + path, rh);
    FileMetadata m;
    m.commit = header(rh, "X-Repo-Commit");
    m.etag = normalize_etag(!header(rh, "X-Linked-Etag").empty() ? header(rh, "X-Linked-Etag") : header(rh, "ETag"));
    m.size = header_int(rh, "X-Linked-Size");
    if (m.size < 0) m.size = header_int(rh, "Content-Length");
    m.location = redirect ? resolve_location(url, header(rh, "Location")) : current;
    if (m.etag.empty()) return invalid_argument(repo_id + "/" + path + ": the hub sent no ETag");
    return m;
  }
  return invalid_argument(path + ": more than " + std::to_string(kMaxRedirects) + " redirects");
}

Status HubClient::download(const std::string& url_in, const std::filesystem::path& dest, int64_t expected_size,
                           const std::function<void(int64_t)>& progress) const {
  DS_ASSIGN_OR_RETURN(const Url hub, split_url(endpoint_));
  std::string current = url_in;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    std::error_code ec;
    int64_t have = std::filesystem::exists(dest, ec) ? int64_t(std::filesystem::file_size(dest, ec)) : 0;
    if (expected_size >= 0 && have == expected_size) return Status::ok();
    if (expected_size >= 0 && have > expected_size) {  // a stale partial file larger than the blob
      std::filesystem::remove(dest, ec);
      have = 0;
    }
    DS_ASSIGN_OR_RETURN(Url url, split_url(current));
    auto cli = make_client(url.origin);
    httplib::Headers h = {{"Accept-Encoding", "identity"}};
    if (!token_.empty() && url.origin == hub.origin) h.emplace("Authorization", "Bearer " + token_);
    if (have > 0) h.emplace("Range", "bytes=" + std::to_string(have) + "-");
    std::FILE* out = nullptr;
    int status = 0;
    std::string location;
    int64_t written = have;
    auto on_response = [&](const httplib::Response& r) {
      status = r.status;
      if (status >= 300 && status < 400) {
        location = header(r.headers, "Location");
        return false;
      }
      if (status == 206) {
        // Content-Range: bytes START-END/TOTAL must start where the partial file ends.
        const std::string cr = header(r.headers, "Content-Range");
        if (cr.rfind("bytes " + std::to_string(have) + "-", 0) != 0) return false;
        out = std::fopen(dest.c_str(), "ab");
      } else if (status == 200) {
        out = std::fopen(dest.c_str(), "wb");  // the server ignored the range: start over
        written = 0;
      } else {
        return false;
      }
      return out != nullptr;
    };
    auto on_data = [&](const char* data, size_t n) {
      if (std::fwrite(data, 1, n, out) != n) return false;
      written += int64_t(n);
      if (progress) progress(written);
      return true;
    };
    auto res = cli->Get(url.path, h, on_response, on_data);
    if (out != nullptr && std::fclose(out) != 0) return io_error(dest.string() + ": write failed");
    if (status >= 300 && status < 400 && !location.empty()) {
      current = resolve_location(url, location);
      continue;
    }
    if (status == 416 && expected_size >= 0 && have == expected_size) return Status::ok();
    if (res) {
      if (res->status != 200 && res->status != 206) return http_status_error(res->status, current, res->headers);
      return Status::ok();
    }
    if (status != 0 && status != 200 && status != 206) return http_status_error(status, current, {});
    if (status == 206 && out == nullptr) {
      std::filesystem::remove(dest, ec);
      return io_error(current + ": the server resumed at the wrong offset (the partial file was discarded)");
    }
    return io_error("transfer interrupted after " + std::to_string(written) + " bytes (" + describe(res.error()) + ")");
  }
  return invalid_argument(url_in + ": more than " + std::to_string(kMaxRedirects) + " redirects");
}

}  // namespace ds::hub
