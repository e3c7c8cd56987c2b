#pragma once
// The Hugging Face hub cache, laid out exactly as huggingface_hub writes it so the two share files:
//
//   $HF_HUB_CACHE/models--ORG--NAME/
//     blobs/ETAG               file contents, named by the hub's ETag (sha256 for LFS files,
//                              git blob sha1 otherwise); ETAG.incomplete while downloading
//     snapshots/COMMIT/PATH    relative symlinks to ../../blobs/ETAG (one folder per commit)
//     refs/REVISION            the commit hash a branch or tag pointed to when last resolved
//   $HF_HUB_CACHE/.locks/models--ORG--NAME/ETAG.lock   advisory locks between processes
//
// HF_HUB_CACHE defaults to $HF_HOME/hub; HF_HOME to $XDG_CACHE_HOME/huggingface or
// ~/.cache/huggingface (huggingface_hub's constants).
#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"

namespace ds::hub {

// Settings read from the environment (huggingface_hub's variable names).
struct HubEnv {
  std::filesystem::path cache_dir;  // HF_HUB_CACHE (or HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT, no trailing slash
  std::string token;      // HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the file $HF_HOME/token
  bool offline = false;   // HF_HUB_OFFLINE in {1, ON, YES, TRUE}
  static HubEnv from_environment();
};

// "org/name" or "name": letters, digits, '-', '_', '.'; no "..", no leading/trailing separators.
Status validate_repo_id(const std::string& repo_id);
// A revision is a branch, tag, "refs/pr/N" or a 40-hex commit hash.
bool is_commit_hash(const std::string& revision);
// A path inside a repository is safe to create under a snapshot folder (no "..", not absolute).
bool is_safe_repo_path(const std::string& path);

class HfCache {
 public:
  HfCache(std::filesystem::path cache_dir, std::string repo_id);

  const std::filesystem::path& repo_dir() const { return repo_dir_; }
  std::filesystem::path blob_path(const std::string& etag) const { return repo_dir_ / "blobs" / etag; }
  std::filesystem::path snapshot_dir(const std::string& commit) const { return repo_dir_ / "snapshots" / commit; }
  std::filesystem::path lock_path(const std::string& etag) const;

  // The commit a revision resolves to in the cache: the revision itself when it is a commit hash
  // with a snapshot folder, else the content of refs/REVISION. nullopt when unknown.
  std::optional<std::string> cached_commit(const std::string& revision) const;
  Status write_ref(const std::string& revision, const std::string& commit) const;
  // Points snapshots/COMMIT/PATH at blobs/ETAG with a relative symlink (replacing an old link).
  Status link_snapshot_file(const std::string& commit, const std::string& path, const std::string& etag) const;

 private:
  std::filesystem::path cache_dir_;
  std::filesystem::path repo_dir_;
  std::string folder_;  // models--ORG--NAME
};

}  // namespace ds::hub
