#pragma once
// HubClient: the few Hugging Face hub endpoints a download needs, over cpp-httplib (https through
// OpenSSL). The token goes only to the hub's own origin, never to a CDN a file redirects to.
//
//   GET  {endpoint}/api/models/{repo}/revision/{rev}   -> {"sha": COMMIT, "siblings": [{"rfilename"}]}
//   HEAD {endpoint}/{repo}/resolve/{rev}/{path}        -> X-Repo-Commit, ETag / X-Linked-Etag,
//                                                         Content-Length / X-Linked-Size, and for LFS
//                                                         files a 302 to the storage URL
//   GET  {resolve or storage URL} with Range: bytes=N- -> 206 (resume) or 200 (start over)
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ds::hub {

struct RepoInfo {
  std::string commit;               // the revision resolved to a commit hash
  std::vector<std::string> files;   // every path in the repository at that commit
};

struct FileMetadata {
  std::string commit;    // X-Repo-Commit ("" when absent)
  std::string etag;      // X-Linked-Etag, else ETag; quotes and W/ removed
  int64_t size = -1;     // X-Linked-Size, else Content-Length; -1 when unknown
  std::string location;  // absolute URL to GET the bytes from
};

// Errors: kIo = the hub could not be reached (the caller may fall back to the cache); kNotFound /
// kInvalidArgument = the hub answered (unknown repo, gated, bad revision, ...).
class HubClient {
 public:
  HubClient(std::string endpoint, std::string token);

  Result<RepoInfo> repo_info(const std::string& repo_id, const std::string& revision) const;
  Result<FileMetadata> file_metadata(const std::string& repo_id, const std::string& revision,
                                     const std::string& path) const;
  // Appends the bytes of `url` from dest's current size on to `dest` (a Range request when dest is
  // not empty; a 200 answer restarts the file). `progress(bytes_in_dest)` is called as data arrives.
  Status download(const std::string& url, const std::filesystem::path& dest, int64_t expected_size,
                  const std::function<void(int64_t)>& progress) const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  std::string endpoint_;  // scheme://host[:port][/prefix]
  std::string token_;
};

// Percent-encodes everything outside RFC 3986's unreserved set; '/' is kept when keep_slash.
std::string url_encode(const std::string& s, bool keep_slash);

}  // namespace ds::hub
