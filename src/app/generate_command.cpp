// `dsserve generate`: prompts through the engine on the CPU (vLLM's offline LLM.generate).
// One prompt streams text to stdout (or prints one JSON object with --json); --prompts-file runs
// every line of a JSONL file as one batch and prints one JSON line per input, in input order.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/engine_options.h"
#include "app/model_options.h"
#include "app/sampling_fields.h"
#include "backend/backend.h"
#include "common/json_nesting.h"
#include "runtime/chat_prompt.h"

namespace ds::app {
namespace {

struct GenerateArgs {
  ModelOptions model;
  EngineOptions engine;
  std::string prompt, prompt_ids, prompts_file;
  bool chat = false, json = false, ignore_eos = false;
  int32_t max_tokens = 128, logprobs = 0;
  std::optional<double> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
};

struct Job {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
};

Result<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(int32_t(v));
    } catch (const std::exception&) {
      return invalid_argument("--prompt-ids: '" + item + "' is not a token id");
    }
  }
  if (ids.empty()) return invalid_argument("--prompt-ids: empty list");
  return ids;
}

Result<std::vector<int32_t>> encode_prompt(const GenerateArgs& a, const LoadedModel& m, const std::string& text) {
  if (!m.tokenizer) return invalid_argument("a text prompt needs a tokenizer (give --tokenizer DIR or use prompt ids)");
  if (!a.chat) return m.tokenizer->encode(text, true);
  nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
  DS_ASSIGN_OR_RETURN(std::string rendered, render_chat(*m.tokenizer, a.model.chat_template, messages, true));
  return m.tokenizer->encode(rendered, false);
}

SamplingParams default_params(const GenerateArgs& a, const GenerationDefaults& g) {
  SamplingParams p;
  p.max_tokens = a.max_tokens;
  p.ignore_eos = a.ignore_eos;
  p.temperature = a.temperature.value_or(g.do_sample == false ? 0.0 : g.temperature.value_or(1.0));
  p.top_p = a.top_p.value_or(g.top_p.value_or(1.0));
  p.top_k = int32_t(a.top_k.value_or(g.top_k.value_or(0)));
  p.min_p = a.min_p.value_or(0.0);
  if (g.repetition_penalty) p.repetition_penalty = *g.repetition_penalty;
  p.seed = a.seed;
  p.logprobs = a.logprobs;  // --json always reports the sampled token's logprob
  return p;
}

// One job per --prompts-file line ({"prompt": TEXT} or {"prompt_ids": [...]} + sampling fields).
Result<std::vector<Job>> read_jobs(const GenerateArgs& a, const LoadedModel& m, const SamplingParams& defaults) {
  std::vector<Job> jobs;
  if (a.prompts_file.empty()) {
    DS_ASSIGN_OR_RETURN(auto ids, a.prompt_ids.empty() ? encode_prompt(a, m, a.prompt) : parse_ids(a.prompt_ids));
    jobs.push_back({std::move(ids), defaults});
    return jobs;
  }
  std::ifstream in(a.prompts_file);
  if (!in) return not_found(a.prompts_file + ": cannot open");
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = a.prompts_file + ":" + std::to_string(lineno) + ": ";
    Job job{{}, defaults};
    if (!json_nesting_within(line))
      return invalid_argument(where + json_nesting_error());
    try {
      const nlohmann::json o = nlohmann::json::parse(line);
      DS_RETURN_IF_ERROR(apply_sampling_fields(o, job.params).with_context(where.substr(0, where.size() - 2)));
      if (o.contains("prompt_ids")) {
        job.prompt_ids = o.at("prompt_ids").get<std::vector<int32_t>>();
      } else if (o.contains("prompt") && o["prompt"].is_string()) {
        DS_ASSIGN_OR_RETURN(job.prompt_ids, encode_prompt(a, m, o["prompt"].get<std::string>()));
      } else {
        return invalid_argument(where + "expected \"prompt\" (string) or \"prompt_ids\" (array of ids)");
      }
    } catch (const nlohmann::json::exception& e) {
      return invalid_argument(where + "invalid JSON line: " + e.what());
    }
    jobs.push_back(std::move(job));
  }
  if (jobs.empty()) return invalid_argument(a.prompts_file + ": no prompts");
  return jobs;
}

nlohmann::json choice_json(const std::vector<StreamEvent>& events, int32_t index, bool logprobs) {
  nlohmann::json c = {{"index", index}, {"output_ids", nlohmann::json::array()}, {"text", ""}, {"logprobs", nlohmann::json::array()}};
  nlohmann::json tops = nlohmann::json::array();
  for (const StreamEvent& e : events) {
    if (e.index != index) continue;
    for (int32_t id : e.token_ids) c["output_ids"].push_back(id);
    c["text"] = c["text"].get<std::string>() + e.text;
    for (const SampledToken& t : e.logprobs) {
      c["logprobs"].push_back(t.logprob);
      nlohmann::json top = nlohmann::json::array();
      for (auto [id, lp] : t.top) top.push_back({{"id", id}, {"logprob", lp}});
      tops.push_back(top);
    }
    if (e.finish_reason) c["finish_reason"] = finish_reason_name(*e.finish_reason);
    if (!e.stop_reason.empty()) c["stop_reason"] = e.stop_reason;
  }
  if (logprobs) c["top_logprobs"] = tops;
  return c;
}

nlohmann::json result_json(const Job& job, const std::vector<StreamEvent>& events) {
  const bool lp = job.params.logprobs.has_value() && *job.params.logprobs > 0;
  nlohmann::json first = choice_json(events, 0, lp);
  nlohmann::json j = {{"prompt_ids", job.prompt_ids}};
  for (const char* k : {"output_ids", "text", "logprobs", "finish_reason", "top_logprobs", "stop_reason"})
    if (first.contains(k)) j[k] = first[k];
  if (job.params.n > 1) {
    j["choices"] = nlohmann::json::array();
    for (int32_t i = 0; i < job.params.n; ++i) j["choices"].push_back(choice_json(events, i, lp));
  }
  j["usage"] = {{"prompt_tokens", events.back().usage.prompt_tokens},
                {"completion_tokens", events.back().usage.completion_tokens},
                {"cached_tokens", events.back().usage.cached_tokens}};
  return j;
}

// Streams one request's text to stdout as it is generated; returns every event.
std::vector<StreamEvent> stream_to_stdout(RequestStream& s) {
  std::vector<StreamEvent> all;
  StreamEvent e;
  while (all.empty() || !all.back().done) {
    if (!s.next(e, std::chrono::milliseconds(1000))) continue;
    std::cout << e.text << std::flush;
    all.push_back(std::move(e));
  }
  std::cout << std::endl;
  return all;
}

int run_generate(GenerateArgs& a) {
  auto loaded = load_model_from_options(a.model);
  if (!loaded.ok()) return fail(loaded.status());
  LoadedModel& m = **loaded;
  auto jobs = read_jobs(a, m, default_params(a, m.generation));
  if (!jobs.ok()) return fail(jobs.status());
  auto backend = make_backend(a.model);
  if (!backend.ok()) return fail(backend.status());
  place_weights(m, **backend);
  auto engine = Engine::create(engine_config(a.engine, a.model.max_model_len, backend->get(), true), m, **backend);
  if (!engine.ok()) return fail(engine.status());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < jobs->size(); ++i) {
    auto s = (*engine)->submit({std::to_string(i), (*jobs)[i].prompt_ids, (*jobs)[i].params, 0});
    if (!s.ok()) return fail(s.status().with_context(a.prompts_file.empty() ? "prompt" : a.prompts_file + ": line " + std::to_string(i + 1)));
    streams.push_back(*s);
  }
  int64_t prompt_tokens = 0, output_tokens = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    const bool live = streams.size() == 1 && !a.json;
    std::vector<StreamEvent> events = live ? stream_to_stdout(*streams[i]) : streams[i]->drain();
    prompt_tokens += events.back().usage.prompt_tokens;
    output_tokens += events.back().usage.completion_tokens;
    if (!live) std::cout << result_json((*jobs)[i], events).dump() << "\n" << std::flush;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "%zu requests, %lld prompt + %lld generated tokens in %.3f s: %.2f output tok/s, %.2f total tok/s\n",
               streams.size(), (long long)prompt_tokens, (long long)output_tokens, sec, double(output_tokens) / sec,
               double(prompt_tokens + output_tokens) / sec);
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("generate", "Generate text for prompts (offline batch, --device cpu or cuda)");
  auto a = std::make_shared<GenerateArgs>();
  add_model_options(*cmd, a->model);
  add_engine_options(*cmd, a->engine);
  auto* p = cmd->add_option("--prompt", a->prompt, "Prompt text");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  auto* pf = cmd->add_option("--prompts-file", a->prompts_file, "JSONL: {\"prompt\"|\"prompt_ids\", sampling fields...} per line");
  p->excludes(pi)->excludes(pf);
  pi->excludes(pf);
  cmd->add_flag("--chat", a->chat, "Render each prompt as one user message through the chat template");
  cmd->add_option("--max-tokens", a->max_tokens, "Maximum number of tokens to generate")->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--temperature", a->temperature, "Sampling temperature (0 = greedy); default from generation_config.json")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", a->top_k, "Top-k sampling (0 = off)");
  cmd->add_option("--min-p", a->min_p, "Min-p sampling")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "Random seed of each request");
  cmd->add_option("--logprobs", a->logprobs, "Report the top K log-probabilities per token")->check(CLI::Range(0, 20));
  cmd->add_flag("--json", a->json, "Print JSON {prompt_ids, output_ids, text, logprobs, finish_reason}");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at the end-of-sequence token");
  cmd->callback([a, &exit_code] {
    if (a->prompt.empty() && a->prompt_ids.empty() && a->prompts_file.empty()) {
      exit_code = fail(invalid_argument("generate: give --prompt TEXT, --prompt-ids 1,2,3 or --prompts-file FILE.jsonl"));
      return;
    }
    exit_code = run_generate(*a);
  });
}

}  // namespace ds::app
