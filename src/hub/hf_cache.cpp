#include "hub/hf_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace ds::hub {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool truthy(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

bool valid_name_part(const std::string& p) {
  if (p.empty() || p.size() > 96 || p == "." || p == ".." || p.find("..") != std::string::npos) return false;
  if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
  return std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

}  // namespace

HubEnv HubEnv::from_environment() {
  HubEnv e;
  fs::path hf_home;
  if (!env("HF_HOME").empty()) {
    hf_home = env("HF_HOME");
  } else if (!env("XDG_CACHE_HOME").empty()) {
    hf_home = fs::path(env("XDG_CACHE_HOME")) / "huggingface";
  } else {
    hf_home = fs::path(env("HOME").empty() ? "/tmp" : env("HOME")) / ".cache" / "huggingface";
  }
  if (!env("HF_HUB_CACHE").empty()) {
    e.cache_dir = env("HF_HUB_CACHE");
  } else if (!env("HUGGINGFACE_HUB_CACHE").empty()) {
    e.cache_dir = env("HUGGINGFACE_HUB_CACHE");
  } else {
    e.cache_dir = hf_home / "hub";
  }
  if (!env("HF_ENDPOINT").empty()) e.endpoint = env("HF_ENDPOINT");
  while (!e.endpoint.empty() && e.endpoint.back() == '/') e.endpoint.pop_back();
  e.token = !env("HF_TOKEN").empty() ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
  if (e.token.empty()) {  // written by `huggingface-cli login`
    std::ifstream in(hf_home / "token");
    std::string t;
    if (in && std::getline(in, t)) e.token = trim(t);
  }
  e.token = trim(e.token);
  e.offline = truthy(env("HF_HUB_OFFLINE"));
  return e;
}

Status validate_repo_id(const std::string& repo_id) {
  const size_t slash = repo_id.find('/');
  bool ok = slash == std::string::npos ? valid_name_part(repo_id)
                                       : repo_id.find('/', slash + 1) == std::string::npos &&
                                             valid_name_part(repo_id.substr(0, slash)) &&
                                             valid_name_part(repo_id.substr(slash + 1));
  if (ok) return Status::ok();
  return invalid_argument("'" + repo_id + "' is not a Hugging Face model id (expected ORG/NAME, e.g. " +
                          "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B)");
}

bool is_commit_hash(const std::string& revision) {
  return revision.size() == 40 &&
         std::all_of(revision.begin(), revision.end(), [](unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) {
    return false;
  }
  for (const fs::path& part : fs::path(path)) {
    if (part == ".." || part == "." || part.empty()) return false;
  }
  return true;
}

HfCache::HfCache(fs::path cache_dir, std::string repo_id) : cache_dir_(std::move(cache_dir)) {
  folder_ = "models--" + repo_id;
  for (size_t p = 0; (p = folder_.find('/', p)) != std::string::npos;) folder_.replace(p, 1, "--");
  repo_dir_ = cache_dir_ / folder_;
}

fs::path HfCache::lock_path(const std::string& etag) const { return cache_dir_ / ".locks" / folder_ / (etag + ".lock"); }

std::optional<std::string> HfCache::cached_commit(const std::string& revision) const {
  std::error_code ec;
  if (is_commit_hash(revision)) {
    if (fs::is_directory(snapshot_dir(revision), ec)) return revision;
    return std::nullopt;
  }
  std::ifstream in(repo_dir_ / "refs" / revision);
  std::string commit;
  if (!in || !std::getline(in, commit)) return std::nullopt;
  commit = trim(commit);
  if (!is_commit_hash(commit) || !fs::is_directory(snapshot_dir(commit), ec)) return std::nullopt;
  return commit;
}

Status HfCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return Status::ok();
  const fs::path ref = repo_dir_ / "refs" / revision;
  std::error_code ec;
  fs::create_directories(ref.parent_path(), ec);
  const fs::path tmp = ref.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << commit;  // huggingface_hub writes the hash without a newline
    if (!out) return io_error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, ref, ec);
  if (ec) return io_error(ref.string() + ": " + ec.message());
  return Status::ok();
}

Status HfCache::link_snapshot_file(const std::string& commit, const std::string& path, const std::string& etag) const {
  const fs::path link = snapshot_dir(commit) / path;
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return io_error(link.parent_path().string() + ": " + ec.message());
  const fs::path target = fs::relative(blob_path(etag), link.parent_path(), ec);
  if (ec) return io_error(link.string() + ": " + ec.message());
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) return io_error(link.string() + ": cannot create symlink: " + ec.message());
  return Status::ok();
}

}  // namespace ds::hub
