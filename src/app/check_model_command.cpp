// `dsserve check-model DIR [--smoke]`: the compatibility test before a model upgrade. Checks
// config.json, generation_config.json, tokenizer.json, the chat template and every tensor (names,
// shapes, dtypes, missing and unused tensors, shard/index consistency), prints one line per check
// and a summary, and exits 0 when nothing failed (warnings do not fail). --smoke then runs a few
// greedy tokens through the engine on the CPU.
//
// Unlike load_model (which stops at the first problem so `serve` fails fast), every check here runs
// on its own and every broken tensor is reported by name, so one run lists everything to fix.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/model_options.h"
#include "backend/backend.h"
#include "engine/engine.h"
#include "model/config.h"
#include "model/generation_config.h"
#include "model/safetensors.h"
#include "model/weight_layout.h"
#include "runtime/chat_prompt.h"
#include "runtime/loaded_model.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";
constexpr size_t kMaxListed = 20;  // problems printed per check before "... and N more"

struct CheckArgs {
  std::string dir;
  std::string tokenizer;
  bool smoke = false;
  int32_t smoke_tokens = 8;
  int threads = 0;
};

// Collects the lines of the report; the exit code is 1 when any check failed.
class Report {
 public:
  void ok(const std::string& what, const std::string& detail) { line("ok", what, detail); }
  void warn(const std::string& what, const std::string& detail) { ++warnings_; line("warn", what, detail); }
  void fail(const std::string& what, const std::string& detail) { ++errors_; line("FAIL", what, detail); }
  void fail(const std::string& what, const Status& s) { fail(what, s.message()); }
  // One FAIL line per problem (at most kMaxListed printed, all counted).
  void fail_all(const std::string& what, const std::vector<std::string>& problems) {
    for (size_t i = 0; i < problems.size(); ++i) {
      if (i < kMaxListed) {
        fail(what, problems[i]);
      } else {
        ++errors_;
      }
    }
    if (problems.size() > kMaxListed) {
      std::cout << "        ... and " << problems.size() - kMaxListed << " more\n";
    }
  }
  int errors() const { return errors_; }
  int warnings() const { return warnings_; }

 private:
  static void line(const char* tag, const std::string& what, const std::string& detail) {
    std::cout << "  " << tag << std::string(6 - std::string(tag).size(), ' ') << what << ": " << detail << "\n";
  }
  int errors_ = 0, warnings_ = 0;
};

std::string param_count(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, n >= 1000000000 ? "%.2fB" : "%.2fM", n >= 1000000000 ? n / 1e9 : n / 1e6);
  return buf;
}

std::string plural(size_t n, const std::string& word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// ---- safetensors: every shard opened on its own, the index compared with what each shard holds ----

struct Shards {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const TensorInfo*> tensors;  // every tensor found in a readable shard
  size_t num_files = 0;
};

Result<nlohmann::json> read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return not_found(p.filename().string() + ": cannot open");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return invalid_argument(p.filename().string() + ": not well-formed JSON");
  return j;
}

void open_shard(const fs::path& path, Shards& s, std::vector<std::string>& problems) {
  auto f = SafetensorsFile::open(path);
  if (!f.ok()) {
    problems.push_back(f.status().message());
    return;
  }
  for (const auto& [n, info] : (*f)->tensors()) {
    if (s.tensors.count(n) != 0) {
      problems.push_back("tensor '" + n + "' is stored twice: in " + s.tensors[n]->file + " and in " + info.file);
    }
    s.tensors[n] = &info;
  }
  s.files.push_back(std::move(*f));
}

// Reads the checkpoint; appends one problem per missing shard, unreadable header or index mismatch.
Shards read_shards(const fs::path& dir, std::vector<std::string>& problems) {
  Shards s;
  const fs::path index_path = dir / kIndexFile;
  if (!fs::exists(index_path)) {
    if (!fs::exists(dir / kSingleFile)) {
      problems.push_back(std::string("no ") + kSingleFile + " or " + kIndexFile + " in " + dir.string());
      return s;
    }
    s.num_files = 1;
    open_shard(dir / kSingleFile, s, problems);
    return s;
  }
  auto index = read_json(index_path);
  if (!index.ok()) {
    problems.push_back(index.status().message());
    return s;
  }
  const nlohmann::json* wm = index->is_object() && index->contains("weight_map") ? &(*index)["weight_map"] : nullptr;
  if (wm == nullptr || !wm->is_object() || wm->empty()) {
    problems.push_back(std::string(kIndexFile) + ": missing or empty object 'weight_map'");
    return s;
  }
  std::map<std::string, std::set<std::string>> listed;  // shard -> tensor names the index puts there
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const std::string shard = it->is_string() ? it->get<std::string>() : "";
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") {
      problems.push_back(std::string(kIndexFile) + ": weight_map['" + it.key() + "'] is not a shard file name");
      continue;
    }
    listed[shard].insert(it.key());
  }
  s.num_files = listed.size();
  for (const auto& [shard, names] : listed) {
    if (!fs::exists(dir / shard)) {
      problems.push_back("missing shard '" + shard + "' (" + kIndexFile + " lists " + plural(names.size(), "tensor") +
                         " in it)");
      continue;
    }
    const size_t before = s.files.size();
    open_shard(dir / shard, s, problems);
    if (s.files.size() == before) continue;
    const auto& held = s.files.back()->tensors();
    for (const std::string& n : names) {
      if (held.count(n) == 0) problems.push_back(std::string(kIndexFile) + ": tensor '" + n + "' is listed in shard '" + shard + "', which does not hold it");
    }
    for (const auto& [n, info] : held) {
      if (names.count(n) != 0) continue;
      auto other = wm->find(n);
      problems.push_back("tensor '" + n + "' in shard '" + shard + "' is " +
                         (other == wm->end() ? std::string("missing from ") + kIndexFile
                                             : "listed in " + std::string(kIndexFile) + " under another shard"));
    }
  }
  return s;
}

// ---- weights: every tensor the config implies, by name, against what the shards hold ----

// The dtype most expected weights share (a single odd tensor is then the one reported).
DType majority_dtype(const std::vector<WeightSpec>& specs, const Shards& s) {
  std::map<DType, size_t> count;
  for (const WeightSpec& spec : specs) {
    auto it = s.tensors.find(spec.name);
    if (it != s.tensors.end()) ++count[it->second->view.dtype];
  }
  DType best = DType::kBF16;
  size_t best_n = 0;
  for (auto [dt, n] : count) {
    if (n > best_n) best = dt, best_n = n;
  }
  return best;
}

void check_weights(const ModelConfig& cfg, const Shards& s, Report& r) {
  ModelWeights scratch;
  const std::vector<WeightSpec> specs = weight_specs(cfg, &scratch);
  const DType dtype = majority_dtype(specs, s);
  std::vector<std::string> missing, bad;
  std::set<std::string> expected;
  for (const WeightSpec& spec : specs) {
    expected.insert(spec.name);
    auto it = s.tensors.find(spec.name);
    if (it == s.tensors.end()) {
      const bool hint = spec.name == "lm_head.weight";
      missing.push_back("missing tensor '" + spec.name + "'" + (hint ? " (config.json has tie_word_embeddings false)" : ""));
      continue;
    }
    const Tensor& v = it->second->view;
    const std::vector<int64_t> shape(v.shape.begin(), v.shape.begin() + v.ndim);
    if (shape != spec.shape) {
      bad.push_back("tensor '" + spec.name + "' in " + it->second->file + " has shape " + v.shape_str() + ", expected " +
                    shape_str(spec.shape));
    }
    if (v.dtype != dtype) {
      bad.push_back("tensor '" + spec.name + "' in " + it->second->file + " has dtype " + std::string(dtype_name(v.dtype)) +
                    ", the other weights are " + std::string(dtype_name(dtype)) + " (all weights must share one dtype)");
    }
  }
  std::vector<std::string> unused;
  for (const auto& [n, info] : s.tensors) {
    if (expected.count(n) == 0) unused.push_back(n);
  }
  const size_t found = specs.size() - missing.size();
  if (missing.empty() && bad.empty()) {
    r.ok("weights", plural(specs.size(), "expected tensor") + " present, shapes and dtypes match (" +
                        std::string(dtype_name(dtype)) + ")");
  }
  r.fail_all("weights", missing);
  r.fail_all("weights", bad);
  if (!missing.empty() || !bad.empty()) {
    std::cout << "        (" << found << " of " << specs.size() << " expected tensors found)\n";
  }
  if (found > 0 && dtype != cfg.dtype) {
    r.warn("dtype", "config.json says " + std::string(dtype_name(cfg.dtype)) + ", the checkpoint holds " +
                        std::string(dtype_name(dtype)) + " (the checkpoint's dtype is used)");
  }
  if (!unused.empty()) {
    std::string list;
    for (size_t i = 0; i < unused.size() && i < 5; ++i) list += (i ? ", " : "") + unused[i];
    if (unused.size() > 5) list += ", ...";
    r.warn("unused tensors", plural(unused.size(), "tensor") + " the model does not use: " + list);
  }
}

// ---- tokenizer and chat template ----

void check_tokenizer(const fs::path& tok_dir, const ModelConfig* cfg, Report& r, std::unique_ptr<Tokenizer>& out) {
  if (!fs::exists(tok_dir / "tokenizer.json")) {  // load_model accepts this too (prompt ids only)
    r.warn("tokenizer", "no tokenizer.json: text prompts and chat need --tokenizer DIR");
    return;
  }
  auto tok = Tokenizer::load(tok_dir);
  if (!tok.ok()) {
    r.fail("tokenizer", tok.status());
    return;
  }
  const Tokenizer& t = **tok;
  std::string detail = std::to_string(t.vocab_size()) + " token ids";
  if (t.bos_token_id()) detail += ", bos " + t.bos_token();
  if (t.eos_token_id()) detail += ", eos " + t.eos_token();
  bool good = true;
  if (cfg != nullptr && t.vocab_size() > cfg->vocab_size) {
    r.fail("tokenizer", "tokenizer.json has ids up to " + std::to_string(t.vocab_size() - 1) +
                            " but config.json vocab_size is " + std::to_string(cfg->vocab_size));
    good = false;
  }
  const std::string probe = "Hello, world! 你好 123";
  const std::vector<int32_t> ids = t.encode(probe, false);
  if (ids.empty() || t.decode(ids, false) != probe) {
    r.warn("tokenizer", "encode/decode of a test string does not round-trip");
  }
  if (!t.eos_token_id()) r.warn("tokenizer", "no eos_token in tokenizer_config.json");
  if (good) r.ok("tokenizer", detail);
  out = std::move(*tok);
}

void check_template(const Tokenizer& tok, Report& r) {
  const std::string src = tok.chat_template();
  if (src.empty()) {
    r.warn("chat template", "tokenizer_config.json has no chat_template (/v1/chat/completions needs --chat-template)");
    return;
  }
  auto parsed = ChatTemplate::parse(src);
  if (!parsed.ok()) {
    r.fail("chat template", parsed.status());
    return;
  }
  const nlohmann::json messages = nlohmann::json::array(
      {{{"role", "system"}, {"content", "You are helpful."}},
       {{"role", "user"}, {"content", "What is 1+1?"}},
       {{"role", "assistant"}, {"content", "<think>\nsimple\n</think>\n\n2"}},
       {{"role", "user"}, {"content", "And 2+2?"}}});
  auto text = render_chat(tok, src, messages, true);
  if (!text.ok()) {
    r.fail("chat template", text.status().with_context("rendering a 4-message conversation"));
    return;
  }
  r.ok("chat template", "parses and renders a 4-message conversation (" + std::to_string(text->size()) + " chars)");
}

// ---- --smoke: a few greedy tokens through the engine on the CPU ----

void run_smoke(const CheckArgs& a, Report& r) {
  ModelSource src;
  src.model = a.dir;
  src.tokenizer = a.tokenizer;
  auto loaded = load_model(src);
  if (!loaded.ok()) {
    r.fail("smoke", loaded.status().with_context("load_model"));
    return;
  }
  const LoadedModel& m = **loaded;
  std::vector<int32_t> prompt;
  if (m.tokenizer) prompt = m.tokenizer->encode("Once upon a time", true);
  if (prompt.empty()) prompt = {int32_t(std::max<int64_t>(m.config.bos_token_id, 0))};
  auto backend = make_cpu_backend({a.threads});
  EngineConfig ec;
  ec.num_kv_blocks = 64;  // a few tokens need a handful of blocks, not the 2 GiB default
  ec.max_model_len = int32_t(std::min<int64_t>(m.config.max_position_embeddings, 512));
  auto engine = Engine::create(ec, m, *backend);
  if (!engine.ok()) {
    r.fail("smoke", engine.status().with_context("engine"));
    return;
  }
  SamplingParams p;
  p.temperature = 0.0;
  p.max_tokens = a.smoke_tokens;
  p.ignore_eos = true;
  const auto t0 = std::chrono::steady_clock::now();
  auto stream = (*engine)->submit({"smoke", prompt, p, 0});
  if (!stream.ok()) {
    r.fail("smoke", stream.status());
    return;
  }
  std::vector<int32_t> out;
  std::string text;
  for (const StreamEvent& e : (*stream)->drain()) {
    out.insert(out.end(), e.token_ids.begin(), e.token_ids.end());
    text += e.text;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (int32_t(out.size()) != a.smoke_tokens) {
    r.fail("smoke", "asked for " + std::to_string(a.smoke_tokens) + " tokens, got " + std::to_string(out.size()));
    return;
  }
  for (int32_t id : out) {
    if (id < 0 || id >= m.config.vocab_size) {
      r.fail("smoke", "generated token id " + std::to_string(id) + " is outside the vocabulary");
      return;
    }
  }
  std::string shown = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  char buf[64];
  std::snprintf(buf, sizeof buf, " in %.0f ms", ms);
  r.ok("smoke", plural(out.size(), "greedy token") + buf + ": " + shown);
}

int run_check(const CheckArgs& a) {
  const fs::path dir = a.dir;
  std::cout << "check-model " << dir.string() << "\n";
  if (!fs::is_directory(dir)) {
    std::cout << "  FAIL  folder: " << dir.string() << " does not exist or is not a directory\n";
    std::cout << "result: FAILED (1 error)\n";
    return 1;
  }
  Report r;
  auto cfg = load_model_config(dir);
  if (cfg.ok()) {
    r.ok("config", cfg->architecture + ", " + plural(size_t(cfg->num_hidden_layers), "layer") + ", hidden " +
                       std::to_string(cfg->hidden_size) + ", heads " + std::to_string(cfg->num_attention_heads) + "/" +
                       std::to_string(cfg->num_key_value_heads) + ", vocab " + std::to_string(cfg->vocab_size) +
                       ", " + param_count(cfg->num_params()) + " params");
  } else {
    r.fail("config", cfg.status());
  }
  if (fs::exists(dir / "generation_config.json")) {
    auto gen = load_generation_config(dir);
    if (gen.ok()) {
      r.ok("generation config", "generation_config.json read");
    } else {
      r.fail("generation config", gen.status());
    }
  }
  std::unique_ptr<Tokenizer> tok;
  check_tokenizer(a.tokenizer.empty() ? dir : fs::path(a.tokenizer), cfg.ok() ? &*cfg : nullptr, r, tok);
  if (tok) check_template(*tok, r);

  std::vector<std::string> shard_problems;
  Shards shards = read_shards(dir, shard_problems);
  if (shard_problems.empty()) {
    r.ok("safetensors", plural(shards.num_files, "file") + ", " + plural(shards.tensors.size(), "tensor") +
                            (fs::exists(dir / kIndexFile) ? ", index consistent" : ""));
  }
  r.fail_all("safetensors", shard_problems);
  if (cfg.ok()) {
    check_weights(*cfg, shards, r);
    if (shard_problems.empty()) {
      // The loader `serve` uses must accept what the checks above accepted.
      std::vector<std::string> unused;
      auto w = load_weights(*cfg, dir, &unused);
      if (!w.ok() && r.errors() == 0) r.fail("loader", w.status());
    }
  }
  if (a.smoke) {
    if (r.errors() == 0) {
      run_smoke(a, r);
    } else {
      std::cout << "  skip  smoke: not run because of the errors above\n";
    }
  }
  if (r.errors() == 0) {
    std::cout << "result: OK (" << plural(size_t(r.warnings()), "warning") << ")\n";
    return 0;
  }
  std::cout << "result: FAILED (" << plural(size_t(r.errors()), "error") << ", "
            << plural(size_t(r.warnings()), "warning") << ")\n";
  return 1;
}

}  // namespace

void add_check_model_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("check-model", "Validate a model folder (config, tokenizer, template, every tensor)");
  auto a = std::make_shared<CheckArgs>();
  cmd->add_option("dir", a->dir, "Model folder (Hugging Face layout)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "Folder with tokenizer.json (default: the model folder)");
  cmd->add_flag("--smoke", a->smoke, "Also generate a few greedy tokens on the CPU");
  cmd->add_option("--smoke-tokens", a->smoke_tokens, "Tokens --smoke generates")->check(CLI::Range(1, 256));
  cmd->add_option("--threads", a->threads, "CPU threads for --smoke (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->callback([a, &exit_code] { exit_code = run_check(*a); });
}

}  // namespace ds::app
