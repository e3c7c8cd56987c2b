// `dsserve bench throughput` and `dsserve bench latency`: engine-level numbers with the engine in
// process (no HTTP), after vLLM's `vllm bench throughput` / `vllm bench latency`.
//   throughput: --num-prompts random prompts of --input-len tokens, --output-len each (ignore_eos),
//               all submitted at once; prints requests/s, total and output tokens/s.
//   latency:    one batch of --batch-size such prompts, --num-iters-warmup + --num-iters times;
//               prints batch latency percentiles, prefill (first token) time and per-step decode time.
#include <chrono>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/engine_options.h"
#include "app/model_options.h"
#include "backend/backend.h"
#include "bench/stats.h"

namespace ds::app {
namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct EngineBenchArgs {
  ModelOptions model;
  EngineOptions engine;
  int32_t input_len = 128, output_len = 128, num_prompts = 100, batch_size = 8, warmup = 2, iters = 5;
  uint64_t seed = 0;
  std::string output_json;
};

std::vector<std::vector<int32_t>> random_prompts(int32_t n, int32_t len, int32_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, std::max(vocab, 2) - 1);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(n), std::vector<int32_t>(static_cast<size_t>(len)));
  for (auto& p : out)
    for (auto& t : p) t = d(rng);
  return out;
}

// Runs one batch to completion; fills per-request first-token and end times (seconds from start).
struct BatchTimes {
  double total = 0;
  std::vector<double> first, end;
  int64_t out_tokens = 0;
};

Result<BatchTimes> run_batch(Engine& engine, const std::vector<std::vector<int32_t>>& prompts, int32_t out_len, int iter) {
  SamplingParams p;
  p.max_tokens = out_len;
  p.ignore_eos = true;
  p.temperature = 0;
  BatchTimes bt;
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < prompts.size(); ++i) {
    DS_ASSIGN_OR_RETURN(auto s, engine.submit({"b" + std::to_string(iter) + "-" + std::to_string(i), prompts[i], p, 0}));
    streams.push_back(s);
  }
  bt.first.assign(prompts.size(), 0);
  bt.end.assign(prompts.size(), 0);
  for (size_t i = 0; i < streams.size(); ++i) {
    StreamEvent e;
    bool got_first = false;
    for (;;) {
      if (!streams[i]->next(e, std::chrono::milliseconds(1000))) continue;
      const double now = secs(Clock::now() - t0);
      if (!got_first && !e.token_ids.empty()) bt.first[i] = now, got_first = true;
      if (e.done) {
        bt.end[i] = now;
        bt.out_tokens += e.usage.completion_tokens;
        break;
      }
    }
  }
  bt.total = secs(Clock::now() - t0);
  return bt;
}

struct Loaded {
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Engine> engine;
};

Result<Loaded> load(EngineBenchArgs& a) {
  Loaded l;
  DS_ASSIGN_OR_RETURN(l.model, load_model_from_options(a.model));
  DS_ASSIGN_OR_RETURN(l.backend, make_backend(a.model));
  place_weights(*l.model, *l.backend);
  DS_ASSIGN_OR_RETURN(l.engine, Engine::create(engine_config(a.engine, a.model.max_model_len, l.backend.get(), true), *l.model, *l.backend));
  return l;
}

int32_t vocab_of(const LoadedModel& m) { return m.tokenizer ? m.tokenizer->vocab_size() : 256; }

void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fputs(j.dump(2).c_str(), f);
    std::fclose(f);
  }
}

int run_throughput(EngineBenchArgs& a) {
  auto l = load(a);
  if (!l.ok()) return fail(l.status());
  const auto prompts = random_prompts(a.num_prompts, a.input_len, vocab_of(*l->model), a.seed);
  auto bt = run_batch(*l->engine, prompts, a.output_len, 0);
  if (!bt.ok()) return fail(bt.status());
  const double in_tok = double(a.num_prompts) * a.input_len;
  std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", a.num_prompts / bt->total,
              (in_tok + double(bt->out_tokens)) / bt->total, double(bt->out_tokens) / bt->total);
  std::printf("Total num prompt tokens:  %.0f\nTotal num output tokens:  %lld\nElapsed time (s):         %.3f\n", in_tok,
              (long long)bt->out_tokens, bt->total);
  const EngineStats& st = l->engine->stats();
  if (st.sample_call_ns_total > 0) {  // device sampling: where the steps' wall time went on the host
    const auto sec = [](const std::atomic<int64_t>& ns) { return double(ns.load()) / 1e9; };
    std::printf("Engine steps: %lld, %.3f s: schedule %.3f, forward call %.3f, update %.3f, device sampler call "
                "(waits for the device) %.3f, applying ids %.3f, text and events %.3f\n",
                (long long)st.steps_total.load(), sec(st.step_ns_total), sec(st.schedule_ns_total),
                sec(st.forward_call_ns_total), sec(st.update_ns_total), sec(st.sample_call_ns_total),
                sec(st.apply_ns_total), sec(st.emit_ns_total));
  }
  write_json(a.output_json, {{"elapsed_time", bt->total}, {"num_requests", a.num_prompts},
                             {"total_num_tokens", in_tok + double(bt->out_tokens)},
                             {"requests_per_second", a.num_prompts / bt->total},
                             {"tokens_per_second", (in_tok + double(bt->out_tokens)) / bt->total},
                             {"output_tokens_per_second", double(bt->out_tokens) / bt->total}});
  return 0;
}

int run_latency(EngineBenchArgs& a) {
  auto l = load(a);
  if (!l.ok()) return fail(l.status());
  const auto prompts = random_prompts(a.batch_size, a.input_len, vocab_of(*l->model), a.seed);
  std::vector<double> lat, prefill, step;
  for (int it = 0; it < a.warmup + a.iters; ++it) {
    // Distinct prompts per iteration so the prefix cache does not turn prefill into a lookup.
    auto ps = prompts;
    for (auto& p : ps) p[0] = (p[0] + it + 1) % std::max(vocab_of(*l->model), 2);
    auto bt = run_batch(*l->engine, ps, a.output_len, it);
    if (!bt.ok()) return fail(bt.status());
    if (it < a.warmup) continue;
    lat.push_back(bt->total);
    // Request 0's stream is read live (the others after it, from their queues), so its times are
    // the batch's: the whole batch is prefilled in its first step and decoded in lockstep.
    prefill.push_back(bt->first[0]);
    if (a.output_len > 1) step.push_back((bt->end[0] - bt->first[0]) / (a.output_len - 1));
  }
  std::printf("Batch %d, %d in / %d out, %d iterations (%d warm-up)\n", a.batch_size, a.input_len, a.output_len, a.iters,
              a.warmup);
  std::printf("Avg latency: %.4f seconds\n", bench::mean(lat));
  for (double p : {10.0, 25.0, 50.0, 75.0, 90.0, 99.0})
    std::printf("%g%% percentile latency: %.4f seconds\n", p, bench::percentile(lat, p));
  std::printf("Prefill (first token of the batch): mean %.2f ms\n", bench::mean(prefill) * 1e3);
  std::printf("Decode step: mean %.2f ms (%.1f tokens/s for the batch)\n", bench::mean(step) * 1e3,
              step.empty() ? 0.0 : a.batch_size / bench::mean(step));
  write_json(a.output_json, {{"avg_latency", bench::mean(lat)}, {"latencies", lat},
                             {"percentiles", {{"50", bench::percentile(lat, 50)}, {"99", bench::percentile(lat, 99)}}},
                             {"prefill_s", prefill}, {"decode_step_s", step}});
  return 0;
}

CLI::App* add_common(CLI::App& bench, const char* name, const char* help, std::shared_ptr<EngineBenchArgs> a) {
  auto* c = bench.add_subcommand(name, help);
  add_model_options(*c, a->model);
  add_engine_options(*c, a->engine);
  c->add_option("--input-len", a->input_len)->capture_default_str();
  c->add_option("--output-len", a->output_len)->capture_default_str();
  c->add_option("--seed", a->seed)->capture_default_str();
  c->add_option("--output-json", a->output_json, "Write the results as JSON");
  return c;
}
}  // namespace

void add_bench_engine_commands(CLI::App& bench, int& exit_code) {
  auto t = std::make_shared<EngineBenchArgs>();
  auto* tc = add_common(bench, "throughput", "Offline throughput, engine in process (vllm bench throughput)", t);
  tc->add_option("--num-prompts", t->num_prompts)->capture_default_str();
  tc->callback([t, &exit_code] { exit_code = run_throughput(*t); });
  auto l = std::make_shared<EngineBenchArgs>();
  auto* lc = add_common(bench, "latency", "Latency of one batch, engine in process (vllm bench latency)", l);
  lc->add_option("--batch-size", l->batch_size)->capture_default_str();
  lc->add_option("--num-iters-warmup", l->warmup)->capture_default_str();
  lc->add_option("--num-iters", l->iters)->capture_default_str();
  lc->callback([l, &exit_code] { exit_code = run_latency(*l); });
}
}  // namespace ds::app
