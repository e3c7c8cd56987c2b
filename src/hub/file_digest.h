#pragma once
// Content digests the hub publishes as ETags: sha256 of the bytes for LFS files (X-Linked-Etag),
// the git blob sha1 ("blob SIZE\0" + bytes) for files stored in git itself.
#include <filesystem>
#include <string>

#include "common/status.h"

namespace ds::hub {

Result<std::string> sha256_file(const std::filesystem::path& path);    // 64 lowercase hex digits
Result<std::string> git_blob_sha1(const std::filesystem::path& path);  // 40 lowercase hex digits

// Checks `path` against an ETag: 64 hex -> sha256, 40 hex -> git blob sha1; any other ETag shape
// (a CDN's opaque tag) cannot be checked and passes. The message names both digests on mismatch.
Status verify_etag(const std::filesystem::path& path, const std::string& etag, const std::string& display_name);

}  // namespace ds::hub
