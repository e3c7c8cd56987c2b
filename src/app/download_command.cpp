// `dsserve download MODEL_ID [--revision R] [--include GLOB]...`: fetches a Hugging Face model
// repository into the standard cache (HF_HOME / HF_HUB_CACHE) and prints the snapshot folder on
// stdout (so `dsserve serve "$(dsserve download ORG/NAME)"` works). Progress and per-file lines go
// to stderr. HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE are honoured (src/hub/hf_cache.h).
#include <iostream>

#include "app/commands.h"
#include "app/model_options.h"
#include "hub/progress_bar.h"
#include "hub/snapshot_download.h"

namespace ds::app {
namespace {

struct DownloadArgs {
  hub::DownloadOptions opts;
  std::string cache_dir;
  bool engine_files = false;
};

int run_download(DownloadArgs& a) {
  hub::HubEnv env = hub::HubEnv::from_environment();
  if (!a.cache_dir.empty()) env.cache_dir = a.cache_dir;
  if (a.engine_files) {
    for (const std::string& g : hub::engine_file_globs()) a.opts.include.push_back(g);
  }
  auto r = hub::snapshot_download(a.opts, env);
  if (!r.ok()) return fail(r.status());
  if (!r->from_cache_only) {
    std::cerr << "dsserve: " << r->files_downloaded << " downloaded (" << hub::human_bytes(r->bytes_downloaded) << "), "
              << r->files_reused << " already in the cache\n";
  } else {
    std::cerr << "dsserve: using the cached snapshot " << r->commit << "\n";
  }
  std::cout << r->snapshot.string() << std::endl;
  return 0;
}

}  // namespace

void add_download_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("download", "Download a Hugging Face model into the HF cache (HF_HOME / HF_HUB_CACHE)");
  auto a = std::make_shared<DownloadArgs>();
  cmd->add_option("model", a->opts.repo_id, "Model id, e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")->required();
  cmd->add_option("--revision", a->opts.revision, "Branch, tag or commit hash (default: main)");
  cmd->add_option("--include", a->opts.include, "Only files matching this glob (repeatable), e.g. '*.safetensors'");
  cmd->add_flag("--engine-files", a->engine_files, "Only what dsserve reads: *.json, *.safetensors, *.jinja");
  cmd->add_option("--cache-dir", a->cache_dir, "Cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub)");
  cmd->add_option("--max-attempts", a->opts.max_attempts, "Tries per file; each retry resumes")->check(CLI::Range(1, 100));
  cmd->callback([a, &exit_code] { exit_code = run_download(*a); });
}

}  // namespace ds::app
