// `dsserve generate`: one prompt through the model on the CPU, printing text (or JSON for tests).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/model_options.h"
#include "backend/backend.h"
#include "runtime/chat_prompt.h"
#include "runtime/generator.h"

namespace ds::app {
namespace {

struct GenerateArgs {
  ModelOptions model;
  std::string prompt;
  std::string prompt_ids;
  bool chat = false;
  int32_t max_tokens = 128;
  std::optional<double> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  int32_t logprobs = 0;
  bool json = false;
  bool ignore_eos = false;
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

Result<std::vector<int32_t>> prompt_ids(const GenerateArgs& a, const LoadedModel& m) {
  if (!a.prompt_ids.empty()) return parse_ids(a.prompt_ids);
  if (!m.tokenizer) return invalid_argument("--prompt needs a tokenizer (give --tokenizer DIR or use --prompt-ids)");
  if (!a.chat) return m.tokenizer->encode(a.prompt, true);
  nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", a.prompt}}});
  DS_ASSIGN_OR_RETURN(std::string text, render_chat(*m.tokenizer, a.model.chat_template, messages, true));
  return m.tokenizer->encode(text, false);
}

SamplingParams sampling_of(const GenerateArgs& a, const GenerationDefaults& g) {
  SamplingParams p;
  p.temperature = a.temperature.value_or(g.do_sample == false ? 0.0 : g.temperature.value_or(1.0));
  p.top_p = a.top_p.value_or(g.top_p.value_or(1.0));
  p.top_k = a.top_k.value_or(g.top_k.value_or(0));
  p.min_p = a.min_p.value_or(0.0);
  p.seed = a.seed;
  p.logprobs = a.logprobs;
  return p;
}

int run_generate(GenerateArgs& a) {
  auto loaded = load_model_from_options(a.model);
  if (!loaded.ok()) return fail(loaded.status());
  const LoadedModel& m = **loaded;
  auto ids = prompt_ids(a, m);
  if (!ids.ok()) return fail(ids.status());
  auto backend = make_cpu_backend({a.model.threads});
  const int32_t max_len = effective_max_model_len(a.model, m.config, int32_t(ids->size()) + a.max_tokens);
  if (int32_t(ids->size()) >= max_len) {
    return fail(invalid_argument("prompt has " + std::to_string(ids->size()) + " tokens, max_model_len is " +
                                 std::to_string(max_len)));
  }
  for (int32_t id : *ids) {
    if (id >= m.config.vocab_size) return fail(invalid_argument("prompt token id " + std::to_string(id) + " >= vocab size " + std::to_string(m.config.vocab_size)));
  }
  Generator gen(m.config, m.weights, *backend, max_len);
  GenerateRequest req{*ids, a.max_tokens, sampling_of(a, m.generation), {}};
  if (!a.ignore_eos) req.stop_token_ids = stop_ids(m);
  std::optional<IncrementalDetokenizer> detok;
  std::string text;
  if (m.tokenizer) detok.emplace(*m.tokenizer, true, *ids);
  auto on_token = [&](int32_t id) {
    if (!detok) return;
    std::string delta = detok->push(id);
    text += delta;
    if (!a.json) std::cout << delta << std::flush;
  };
  GenerateResult r = gen.generate(req, on_token);
  if (detok) {
    std::string tail = detok->flush();
    text += tail;
    if (!a.json) std::cout << tail;
  }
  if (a.json) {
    print_json_result(*ids, r, text, a.logprobs);
  } else {
    std::cout << std::endl;
  }
  const double n = double(r.output_ids.size());
  std::fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tok/s); generated %zu tokens in %.3f s (%.2f tok/s)\n",
               ids->size(), r.prefill_seconds, double(ids->size()) / r.prefill_seconds, r.output_ids.size(),
               r.decode_seconds, n > 1 ? (n - 1) / r.decode_seconds : 0.0);
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("generate", "Generate text for one prompt on the CPU");
  auto a = std::make_shared<GenerateArgs>();
  add_model_options(*cmd, a->model);
  auto* p = cmd->add_option("--prompt", a->prompt, "Prompt text");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  p->excludes(pi);
  cmd->add_flag("--chat", a->chat, "Render the prompt as one user message through the chat template");
  cmd->add_option("--max-tokens", a->max_tokens, "Maximum number of tokens to generate")->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--temperature", a->temperature, "Sampling temperature (0 = greedy); default from generation_config.json")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", a->top_k, "Top-k sampling (0 = off)");
  cmd->add_option("--min-p", a->min_p, "Min-p sampling")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "Random seed");
  cmd->add_option("--logprobs", a->logprobs, "Report the top K log-probabilities per token")->check(CLI::Range(0, 20));
  cmd->add_flag("--json", a->json, "Print one JSON object {prompt_ids, output_ids, text, logprobs}");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at the end-of-sequence token");
  cmd->callback([a, cmd, &exit_code] {
    if (a->prompt.empty() && a->prompt_ids.empty()) {
      exit_code = fail(invalid_argument("generate: give --prompt TEXT or --prompt-ids 1,2,3"));
      return;
    }
    exit_code = run_generate(*a);
    (void)cmd;
  });
}

}  // namespace ds::app
