// `dsserve serve [MODEL]`: the OpenAI-compatible HTTP server (vLLM's `vllm serve`), with vLLM's
// flag names. Flags that deployment guides use but vLLM never had are accepted with a one-line
// warning naming the real flag. Threads: main (load, then wait), one signal thread (sigwait:
// SIGTERM/SIGINT drain and stop, SIGHUP reopens the audit log), the HTTP workers, the engine.
#include <signal.h>
#include <sys/resource.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/engine_options.h"
#include "app/model_options.h"
#include "backend/backend.h"
#include "server/http_server.h"
#include "server/audit_log.h"
#include "server/request_metrics.h"
#include "server/stats_logger.h"

namespace ds::app {
namespace {

struct ServeArgs {
  ModelOptions model;
  EngineOptions engine;
  server::ServerConfig server;
  std::string positional_model;
  std::string allowed_origins;
  std::string log_level = "info";
  std::string log_file;
  uint64_t log_max_bytes = 100ull << 20;
  int32_t log_max_files = 5;
  double log_interval = 10.0;
  int32_t tensor_parallel_size = 1;
  bool trust_remote_code = false;
  std::vector<std::string> flag_warnings;  // from the alias flags while parsing; printed once the level is known
};

// --log-level over the server's stderr lines: info (start-up, memory split, stats, drain) shows at
// trace/debug/info, warnings also at warning, neither at error/critical. Errors that stop the
// process are always printed (fail()). Nothing finer than info exists, so debug/trace equal info.
struct ServeLog {
  bool info_on = true, warn_on = true;
  explicit ServeLog(const std::string& level)
      : info_on(level == "trace" || level == "debug" || level == "info"), warn_on(info_on || level == "warning") {}
  void info(const std::string& msg) const {
    if (info_on) std::fprintf(stderr, "dsserve: %s\n", msg.c_str());
  }
  void warn(const std::string& msg) const {
    if (warn_on) std::fprintf(stderr, "dsserve: warning: %s\n", msg.c_str());
  }
};

std::string printf_string(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::vector<std::string> parse_origins(const std::string& s) {
  if (s.empty()) return {};
  if (s.front() == '[') {
    try {
      return nlohmann::json::parse(s).get<std::vector<std::string>>();
    } catch (const std::exception&) {
      return {};
    }
  }
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

bool has_think_tokens(const LoadedModel& m) {
  return m.tokenizer && m.tokenizer->token_to_id("</think>").has_value();
}

// vllm:cache_config_info's labels: the flags as given (vLLM renders its CacheConfig's fields; its
// cache_dtype stays "auto" when the flag says so) and the engine's block count.
metrics::Labels cache_config_labels(const ServeArgs& a, const Engine& engine) {
  return {{"block_size", std::to_string(a.engine.block_size)},
          {"cache_dtype", a.model.kv_cache_dtype},
          {"enable_prefix_caching", a.engine.enable_prefix_caching ? "True" : "False"},
          {"gpu_memory_utilization", printf_string("%g", a.engine.gpu_memory_utilization)},
          {"num_gpu_blocks", std::to_string(engine.num_kv_blocks())},
          {"swap_space", printf_string("%g", a.engine.swap_space)}};
}

// Loads the model and starts the engine; fills the parts of the context that need them.
struct Runtime {
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ChatTemplate> chat_template;
  std::unique_ptr<StatsLogger> stats_logger;
};

Status start_runtime(ServeArgs& a, const ServeLog& log, Runtime& rt, server::ServerContext& ctx) {
  DS_ASSIGN_OR_RETURN(rt.model, load_model_from_options(a.model));
  DS_ASSIGN_OR_RETURN(rt.backend, make_backend(a.model));
  place_weights(*rt.model, *rt.backend);
  EngineConfig ec = engine_config(a.engine, a.model.max_model_len, rt.backend.get());
  // The resolved budget (the flag may be unset), for dsserve:max_num_batched_tokens and batch_efficiency.
  a.engine.max_num_batched_tokens = ec.scheduler.max_num_batched_tokens;
  ec.log = [log](const std::string& line) { log.info(line); };
  DS_ASSIGN_OR_RETURN(rt.engine, Engine::create(ec, *rt.model, *rt.backend));
  const std::string tmpl = !a.model.chat_template.empty() ? a.model.chat_template
                           : rt.model->tokenizer ? rt.model->tokenizer->chat_template() : "";
  if (!tmpl.empty()) {
    auto parsed = ChatTemplate::parse(tmpl);
    if (!parsed.ok()) return parsed.status().with_context("chat template");
    rt.chat_template = std::make_unique<ChatTemplate>(std::move(*parsed));
  }
  const std::string& rp = a.server.reasoning_parser;
  ctx.protocol.tokenizer = rt.model->tokenizer.get();
  ctx.protocol.chat_template = rt.chat_template.get();
  ctx.protocol.generation = rt.model->generation;
  ctx.protocol.max_model_len = rt.engine->max_model_len();
  ctx.protocol.reasoning = rp == "deepseek_r1" || (rp == "auto" && has_think_tokens(*rt.model));
  ctx.protocol.cfg = &ctx.cfg;
  ctx.metrics = std::make_unique<ServerMetrics>(ServerMetricsConfig{ctx.model_name(), rt.engine->max_model_len(),
                                                                    a.engine.max_num_batched_tokens, true,
                                                                    cache_config_labels(a, *rt.engine)});
  if (a.model.device == "cuda") {  // NVML gauges (dsserve:gpu_*) when the driver's library is there
    ctx.gpu_metrics = std::make_unique<GpuMetrics>(ctx.metrics->registry());
    if (!ctx.gpu_metrics->available()) log.warn("NVML (libnvidia-ml.so.1) not found: no GPU metrics in /metrics");
  }
  if (!a.log_file.empty()) {
    AuditLogConfig ac{a.log_file, a.log_max_bytes, a.log_max_files, a.server.enable_log_requests,
                      a.server.max_log_len > 0 ? int64_t(a.server.max_log_len) : -1};
    DS_ASSIGN_OR_RETURN(ctx.audit, AuditLog::open(ac));
  }
  rt.stats_logger = std::make_unique<StatsLogger>(rt.engine->stats(), std::chrono::duration<double>(a.log_interval),
                                                  [log](const std::string& line) { log.info(line); },
                                                  "KV cache usage");
  ctx.model = rt.model.get();
  ctx.engine = rt.engine.get();
  return Status::ok();
}

int run_serve(ServeArgs& a) {
  if (a.model.model.empty()) a.model.model = a.positional_model;
  if (a.model.model.empty()) return fail(invalid_argument("serve: give the model as MODEL or --model"));
  if (!a.positional_model.empty() && a.positional_model != a.model.model)
    return fail(invalid_argument("serve: MODEL '" + a.positional_model + "' and --model '" + a.model.model + "' differ"));
  if (const char* env = std::getenv("DSSERVE_API_KEY"); env && *env) a.server.api_keys.push_back(env);
  if (a.server.served_model_names.empty()) a.server.served_model_names = {a.model.model};
  a.server.allowed_origins = parse_origins(a.allowed_origins);
  a.server.model_path = a.model.model;
  const ServeLog log(a.log_level);
  for (const std::string& w : a.flag_warnings) log.warn(w);
  if (a.tensor_parallel_size > 1) log.warn("--tensor-parallel-size " + std::to_string(a.tensor_parallel_size) + " is ignored: dsserve runs the model on one device");

  // Signals are taken by one thread with sigwait; every thread started later inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  server::ServerContext ctx(a.server);
  server::HttpServer http(ctx);
  if (Status s = http.bind(); !s.is_ok()) return fail(s);
  Status served;
  std::thread http_thread([&] { served = http.run(); });
  std::thread signal_thread([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {  // logrotate moved the audit log: reopen before the next line
        AuditLog::on_sighup();
        continue;
      }
      if (!ctx.ready) std::_Exit(0);
      log.info(printf_string("signal %d: draining (up to %.0f s)", sig, ctx.cfg.shutdown_timeout_s));
      http.drain_and_stop();
      return;
    }
  });
  signal_thread.detach();

  Runtime rt;
  if (Status s = start_runtime(a, log, rt, ctx); !s.is_ok()) {
    fail(s);
    std::_Exit(1);
  }
  ctx.ready = true;
  log.info(printf_string("serving %s on http://%s:%d (max_model_len %d, %d KV blocks of %s, reasoning parser %s, "
                         "auth %s)",
                         ctx.model_name().c_str(), a.server.host.c_str(), a.server.port, rt.engine->max_model_len(),
                         rt.engine->num_kv_blocks(), std::string(dtype_name(rt.backend->kv_cache_dtype())).c_str(),
                         ctx.protocol.reasoning ? "deepseek_r1" : "off",
                         ctx.auth.enabled() ? "on" : "off"));
  http_thread.join();
  if (!served.is_ok()) return fail(served);
  log.info("stopped");
  return 0;
}

// Deployment-guide flags vLLM never had: accepted, with a warning naming the real one.
void add_alias_flags(CLI::App& cmd, ServeArgs& a) {
  cmd.add_option_function<int32_t>("--batch-size", [&a](const int32_t& v) {
    a.flag_warnings.push_back("--batch-size is not a vLLM flag; using it as --max-num-seqs");
    a.engine.max_num_seqs = v;
  }, "Alias of --max-num-seqs (warns)");
  cmd.add_option_function<int32_t>("--max-batch-total-tokens", [&a](const int32_t& v) {
    a.flag_warnings.push_back("--max-batch-total-tokens is not a vLLM flag; using it as --max-num-batched-tokens");
    a.engine.max_num_batched_tokens = v;
  }, "Alias of --max-num-batched-tokens (warns)");
  cmd.add_option_function<int32_t>("--max-seq-len", [&a](const int32_t& v) {
    a.flag_warnings.push_back("--max-seq-len is not a vLLM flag; using it as --max-model-len");
    a.model.max_model_len = v;
  }, "Alias of --max-model-len (warns)");
  cmd.add_flag_callback("--dynamic-batching", [&a] { a.flag_warnings.push_back("--dynamic-batching: continuous batching is always on"); },
                        "Accepted: continuous batching is always on (warns)");
  cmd.add_flag_callback("--stream-output", [&a] { a.flag_warnings.push_back("--stream-output: streaming is per request (\"stream\": true)"); },
                        "Accepted: streaming is per request (warns)");
  cmd.add_option_function<int>("--worker-cpu-threads", [&a](const int& v) {
    a.flag_warnings.push_back("--worker-cpu-threads is not a vLLM flag; using it as --threads");
    a.model.threads = v;
  }, "Alias of --threads (warns)");
}

void add_model_flags(CLI::App& cmd, ServeArgs& a) {
  cmd.add_option("MODEL", a.positional_model, "Model folder (Hugging Face layout), or a known id with --load-format dummy");
  add_model_options(cmd, a.model, /*model_required=*/false);
  cmd.add_option("--seed", a.engine.seed, "Seed of requests that give none");
  cmd.add_option("--tensor-parallel-size", a.tensor_parallel_size, "Accepted; dsserve runs the model on one device")
      ->check(CLI::Range(1, 64));
  cmd.add_flag("--trust-remote-code", a.trust_remote_code, "Accepted; dsserve never runs model code");
}

void add_server_flags(CLI::App& cmd, ServeArgs& a) {
  server::ServerConfig& s = a.server;
  cmd.add_option("--host", s.host, "Address to bind (default 127.0.0.1; vLLM binds 0.0.0.0: pass --host 0.0.0.0 to expose)");
  cmd.add_option("--port", s.port, "Port (default 8000)")->check(CLI::Range(0, 65535));
  cmd.add_option("--served-model-name", s.served_model_names, "Model names the API accepts (first is reported); default MODEL");
  cmd.add_option("--api-key", s.api_keys, "Require 'Authorization: Bearer KEY' (repeatable; also env DSSERVE_API_KEY)");
  cmd.add_flag("--metrics-public", s.metrics_public, "Serve /metrics without the API key");
  cmd.add_option("--allowed-origins", a.allowed_origins, "CORS origins: JSON list '[\"*\"]' or comma-separated (default: none)");
  cmd.add_option("--max-request-bytes", s.max_request_bytes, "Largest request body (413 beyond)")->check(CLI::Range(1024ull, 1ull << 34));
  cmd.add_option("--max-waiting-requests", s.max_waiting_requests, "Waiting-queue limit; beyond it 503 + Retry-After")->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--http-threads", s.http_threads, "HTTP worker threads = max concurrent connections (default: max-waiting + 512, <= 2048)")
      ->check(CLI::Range(0, 65536));
  cmd.add_option("--request-timeout", s.request_timeout_s, "Seconds a request may run; then its choices end with finish_reason \"abort\" and the response carries a timeout_error (0 = none)")->check(CLI::Range(0.0, 1e7));
  cmd.add_option("--shutdown-timeout", s.shutdown_timeout_s, "Seconds SIGTERM waits for in-flight requests")->check(CLI::Range(0.0, 1e6));
  cmd.add_option("--reasoning-parser", s.reasoning_parser, "deepseek_r1 | none | auto (on when the tokenizer has </think>)")
      ->check(CLI::IsMember({"auto", "deepseek_r1", "none"}));
  cmd.add_flag("--enable-log-requests", s.enable_log_requests, "Put request/response bodies in the audit log");
  cmd.add_option("--max-log-len", s.max_log_len, "Cut logged bodies to this many characters")->check(CLI::Range(0, 1 << 30));
  cmd.add_option("--log-level,--uvicorn-log-level", a.log_level,
                 "Server stderr lines shown: trace | debug | info (start-up, memory, stats) | warning | error | critical (errors only)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error", "critical", "trace"}));
  cmd.add_option("--log-file", a.log_file, "Audit log: one JSON line per request");
  cmd.add_option("--log-max-bytes", a.log_max_bytes, "Rotate the audit log at this size");
  cmd.add_option("--log-max-files", a.log_max_files, "Rotated audit log files kept")->check(CLI::Range(0, 1000));
  cmd.add_option("--log-interval", a.log_interval, "Seconds between stats log lines (0 = off)")->check(CLI::Range(0.0, 1e6));
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (vLLM's `vllm serve`)");
  auto a = std::make_shared<ServeArgs>();
  add_model_flags(*cmd, *a);
  add_engine_options(*cmd, a->engine);
  add_server_flags(*cmd, *a);
  add_alias_flags(*cmd, *a);
  cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });
}

}  // namespace ds::app
