#include "hub/snapshot_download.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "hub/file_digest.h"
#include "hub/hub_client.h"
#include "hub/progress_bar.h"

namespace ds::hub {

namespace fs = std::filesystem;

namespace {

// flock on .locks/models--ORG--NAME/ETAG.lock: two replicas starting together download a blob once.
class FileLock {
 public:
  explicit FileLock(const fs::path& p) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    fd_ = ::open(p.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

bool wanted(const std::string& path, const std::vector<std::string>& include) {
  if (include.empty()) return true;
  for (const std::string& g : include) {
    if (fnmatch(g.c_str(), path.c_str(), 0) == 0) return true;
  }
  return false;
}

bool valid_etag(const std::string& e) {
  if (e.empty() || e.size() > 128 || e == "." || e == "..") return false;
  for (unsigned char c : e) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

struct Context {
  const DownloadOptions& opts;
  const HfCache& cache;
  const HubClient& client;
  std::ostream& log;
  DownloadResult& result;
};

// Downloads one blob into the cache (resuming blobs/ETAG.incomplete), checks size and digest.
Status fetch_blob(Context& c, const std::string& path, const FileMetadata& m) {
  const fs::path blob = c.cache.blob_path(m.etag);
  const fs::path partial = blob.string() + ".incomplete";
  std::error_code ec;
  fs::create_directories(blob.parent_path(), ec);
  const int64_t start = fs::exists(partial, ec) ? int64_t(fs::file_size(partial, ec)) : 0;
  const fs::space_info space = fs::space(blob.parent_path(), ec);
  if (!ec && m.size > start && space.available < uintmax_t(m.size - start)) {  // huggingface_hub warns too
    c.log << "  " << path << ": warning: " << human_bytes(m.size - start) << " to download but only "
          << human_bytes(int64_t(space.available)) << " free in " << blob.parent_path().string() << "\n";
  }
  ProgressBar bar(path, m.size, c.opts.progress && stderr_is_terminal());
  Status st;
  for (int attempt = 1; attempt <= c.opts.max_attempts; ++attempt) {
    st = c.client.download(m.location, partial, m.size, [&](int64_t done) { bar.update(done); });
    if (st.is_ok() || st.code() != ErrorCode::kIo) break;
    if (attempt < c.opts.max_attempts) {
      c.log << "  " << path << ": " << st.message() << "; resuming (attempt " << attempt + 1 << " of "
            << c.opts.max_attempts << ")\n";
      ::usleep(useconds_t(200000 * attempt));
    }
  }
  if (!st.is_ok()) {
    return st.with_context(path + " (the partial file " + partial.filename().string() +
                           " is kept; run the download again to resume)");
  }
  bar.finish();
  const int64_t got = int64_t(fs::file_size(partial, ec));
  if (m.size >= 0 && got != m.size) {
    fs::remove(partial, ec);
    return invalid_argument(path + ": size mismatch: the hub says " + std::to_string(m.size) + " bytes, received " +
                            std::to_string(got) + " (the file was discarded)");
  }
  Status digest = verify_etag(partial, m.etag, path);
  if (!digest.is_ok()) {
    fs::remove(partial, ec);
    return digest;
  }
  fs::rename(partial, blob, ec);
  if (ec) return io_error(blob.string() + ": " + ec.message());
  c.result.bytes_downloaded += got - start;
  ++c.result.files_downloaded;
  c.log << "  " << path << ": downloaded " << human_bytes(got)
        << (start > 0 ? " (resumed at " + human_bytes(start) + ")" : std::string()) << "\n";
  return Status::ok();
}

Status fetch_file(Context& c, const std::string& commit, const std::string& path) {
  std::error_code ec;
  const fs::path in_snapshot = c.cache.snapshot_dir(commit) / path;
  if (fs::is_regular_file(in_snapshot, ec)) {  // the commit pins the content: nothing to ask
    ++c.result.files_reused;
    c.log << "  " << path << ": in cache\n";
    return Status::ok();
  }
  DS_ASSIGN_OR_RETURN(FileMetadata m, c.client.file_metadata(c.opts.repo_id, commit, path));
  if (!valid_etag(m.etag)) return invalid_argument(path + ": unusable ETag '" + m.etag + "'");
  FileLock lock(c.cache.lock_path(m.etag));
  const fs::path blob = c.cache.blob_path(m.etag);
  if (fs::is_regular_file(blob, ec) && (m.size < 0 || int64_t(fs::file_size(blob, ec)) == m.size)) {
    ++c.result.files_reused;  // same content under another commit or from huggingface-cli
    c.log << "  " << path << ": in cache (blob " << m.etag.substr(0, 12) << ")\n";
  } else {
    DS_RETURN_IF_ERROR(fetch_blob(c, path, m));
  }
  return c.cache.link_snapshot_file(commit, path, m.etag);
}

Result<DownloadResult> from_cache(const DownloadOptions& o, const HubEnv& env, const HfCache& cache,
                                  const std::string& why) {
  const auto commit = cache.cached_commit(o.revision);
  if (!commit) {
    return not_found(why + ", and " + o.repo_id + " (revision " + o.revision + ") is not in the Hugging Face cache " +
                     env.cache_dir.string() + "; download it first with `dsserve download " + o.repo_id +
                     "` where the hub is reachable (or point HF_HUB_CACHE / HF_HOME at a cache that has it)");
  }
  DownloadResult r;
  r.commit = *commit;
  r.snapshot = cache.snapshot_dir(*commit);
  r.from_cache_only = true;
  return r;
}

}  // namespace

Result<DownloadResult> snapshot_download(const DownloadOptions& o, const HubEnv& env) {
  DS_RETURN_IF_ERROR(validate_repo_id(o.repo_id));
  if (o.revision.empty() || o.revision.find("..") != std::string::npos) {
    return invalid_argument("'" + o.revision + "' is not a revision");
  }
  std::ostream& log = o.log ? *o.log : std::cerr;
  HfCache cache(env.cache_dir, o.repo_id);
  if (env.offline) return from_cache(o, env, cache, "HF_HUB_OFFLINE is set");
  HubClient client(env.endpoint, env.token);
  auto info = client.repo_info(o.repo_id, o.revision);
  if (!info.ok()) {
    if (info.status().code() != ErrorCode::kIo) return info.status();
    auto cached = from_cache(o, env, cache, info.status().message());
    if (cached.ok()) log << "dsserve: " << info.status().message() << "; using the cached snapshot\n";
    return cached;
  }
  if (!is_commit_hash(info->commit)) return invalid_argument(o.repo_id + ": the hub returned an invalid commit hash");
  DownloadResult result;
  result.commit = info->commit;
  result.snapshot = cache.snapshot_dir(info->commit);
  std::vector<std::string> files;
  for (const std::string& f : info->files) {
    if (!is_safe_repo_path(f)) return invalid_argument(o.repo_id + ": refusing unsafe file name '" + f + "'");
    if (wanted(f, o.include)) files.push_back(f);
  }
  if (files.empty()) return not_found(o.repo_id + " (revision " + o.revision + "): no files match");
  log << "dsserve: " << o.repo_id << " revision " << o.revision << " = commit " << info->commit << ", "
      << files.size() << " files -> " << result.snapshot.string() << "\n";
  Context c{o, cache, client, log, result};
  for (const std::string& f : files) DS_RETURN_IF_ERROR(fetch_file(c, info->commit, f));
  std::error_code ec;
  fs::create_directories(result.snapshot, ec);
  DS_RETURN_IF_ERROR(cache.write_ref(o.revision, info->commit));
  return result;
}

bool is_hub_model_id(const std::string& model) {
  std::error_code ec;
  return !fs::exists(model, ec) && std::count(model.begin(), model.end(), '/') == 1 && validate_repo_id(model).is_ok();
}

std::vector<std::string> engine_file_globs() {
  return {"*.json", "*.safetensors", "*.jinja", "tokenizer.model"};
}

Result<fs::path> resolve_model_path(const std::string& model, const std::string& revision) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return fs::path(model);
  if (!validate_repo_id(model).is_ok() || model.find('/') == std::string::npos) {
    return not_found(model + ": no such model folder, and not a Hugging Face id (ORG/NAME)");
  }
  DownloadOptions o;
  o.repo_id = model;
  o.revision = revision;
  o.include = engine_file_globs();
  DS_ASSIGN_OR_RETURN(DownloadResult r, snapshot_download(o, HubEnv::from_environment()));
  return r.snapshot;
}

}  // namespace ds::hub
