#pragma once
// snapshot_download: a Hugging Face model repository at a revision -> a local folder in the HF cache
// (hf_cache.h), as huggingface_hub's snapshot_download does: files already in the cache (from an
// earlier run or from huggingface-cli) are reused, partial files (.incomplete) resume with Range
// requests, every file is checked against the size and sha256 / git sha1 the hub publishes, and
// HF_HUB_OFFLINE resolves from the cache alone.
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/status.h"
#include "hub/hf_cache.h"

namespace ds::hub {

struct DownloadOptions {
  std::string repo_id;
  std::string revision = "main";
  std::vector<std::string> include;  // shell globs over repo paths; empty = every file
  int max_attempts = 3;              // per file; each retry resumes the partial file
  bool progress = true;              // a bar on stderr when it is a terminal
  std::ostream* log = nullptr;       // one line per file (nullptr = std::cerr)
};

struct DownloadResult {
  std::filesystem::path snapshot;  // $HF_HUB_CACHE/models--ORG--NAME/snapshots/COMMIT
  std::string commit;
  int files_downloaded = 0, files_reused = 0;
  int64_t bytes_downloaded = 0;
  bool from_cache_only = false;  // offline, or the hub was unreachable and the cache had the revision
};

Result<DownloadResult> snapshot_download(const DownloadOptions& opts, const HubEnv& env);

// For `serve MODEL` / `generate --model MODEL`: an existing folder is returned as is; a Hugging Face
// id is downloaded (config, tokenizer, template, safetensors only) or, offline, found in the cache.
// Anything else gets one clear message.
Result<std::filesystem::path> resolve_model_path(const std::string& model, const std::string& revision = "main");

// True when `model` is not an existing path but reads as ORG/NAME: `serve` / `generate` then fetch it.
bool is_hub_model_id(const std::string& model);

// The globs resolve_model_path downloads: what the engine reads, not README images or .bin copies.
std::vector<std::string> engine_file_globs();

}  // namespace ds::hub
