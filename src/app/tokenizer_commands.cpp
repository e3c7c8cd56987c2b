// `dsserve tokenize`, `dsserve detokenize`, `dsserve chat-template`: the tokenizer and template as
// command-line tools (for people and for tests).
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/model_options.h"
#include "common/file_util.h"
#include "runtime/chat_prompt.h"

namespace ds::app {
namespace {

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& dir) { return Tokenizer::load(dir); }

int run_tokenize(const std::string& dir, const std::string& text, bool add_special) {
  auto tok = load_tokenizer(dir);
  if (!tok.ok()) return fail(tok.status());
  std::cout << nlohmann::json((*tok)->encode(text, add_special)).dump() << std::endl;
  return 0;
}

int run_detokenize(const std::string& dir, const std::string& ids_text, bool skip_special) {
  auto tok = load_tokenizer(dir);
  if (!tok.ok()) return fail(tok.status());
  std::vector<int32_t> ids;
  try {
    auto j = nlohmann::json::parse(ids_text.front() == '[' ? ids_text : "[" + ids_text + "]");
    ids = j.get<std::vector<int32_t>>();
  } catch (const std::exception&) {
    return fail(invalid_argument("detokenize: expected ids like 1,2,3 or [1,2,3], got '" + ids_text + "'"));
  }
  for (int32_t id : ids)
    if (id < 0 || id >= (*tok)->vocab_size()) return fail(invalid_argument("detokenize: id " + std::to_string(id) + " outside the vocabulary"));
  std::cout << (*tok)->decode(ids, skip_special) << std::endl;
  return 0;
}

int run_chat_template(const std::string& dir, const std::string& messages_file, const std::string& template_file,
                      bool add_generation_prompt) {
  auto tok = load_tokenizer(dir);
  if (!tok.ok()) return fail(tok.status());
  auto messages = read_json_file(messages_file);
  if (!messages.ok()) return fail(messages.status());
  std::string source;
  if (!template_file.empty()) {
    auto t = read_file(template_file);
    if (!t.ok()) return fail(t.status());
    source = *t;
  }
  const nlohmann::json* msgs = &*messages;
  const nlohmann::json* tools = nullptr;
  if (messages->is_object()) {  // {"messages": [...], "tools": [...]} also accepted
    if (!messages->contains("messages")) return fail(invalid_argument(messages_file + ": expected an array of messages or {\"messages\": [...]}"));
    msgs = &(*messages)["messages"];
    if (messages->contains("tools")) tools = &(*messages)["tools"];
  }
  if (!msgs->is_array()) return fail(invalid_argument(messages_file + ": messages must be an array"));
  auto text = render_chat(**tok, source, *msgs, add_generation_prompt, tools);
  if (!text.ok()) return fail(text.status());
  std::cout << *text;
  return 0;
}

}  // namespace

void add_tokenizer_commands(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, text, file, template_file;
    bool add_special = false, keep_special = false, no_generation_prompt = false;
  };
  auto a = std::make_shared<Args>();
  auto* tk = app.add_subcommand("tokenize", "Print the token ids of TEXT as a JSON array");
  tk->add_option("--model,-m", a->model, "Folder with tokenizer.json")->required();
  tk->add_flag("--add-special-tokens", a->add_special, "Apply the post-processor (e.g. BOS)");
  tk->add_option("text", a->text, "Text to tokenize")->required();
  tk->callback([a, &exit_code] { exit_code = run_tokenize(a->model, a->text, a->add_special); });

  auto* dt = app.add_subcommand("detokenize", "Print the text of token ids (1,2,3 or [1,2,3])");
  dt->add_option("--model,-m", a->model, "Folder with tokenizer.json")->required();
  dt->add_flag("--keep-special-tokens", a->keep_special, "Do not skip special tokens");
  dt->add_option("ids", a->text, "Token ids")->required();
  dt->callback([a, &exit_code] { exit_code = run_detokenize(a->model, a->text, !a->keep_special); });

  auto* ct = app.add_subcommand("chat-template", "Render MESSAGES.json through the model's chat template");
  ct->add_option("--model,-m", a->model, "Folder with tokenizer.json and tokenizer_config.json")->required();
  ct->add_option("--chat-template", a->template_file, "Template file overriding the model's");
  ct->add_flag("--no-generation-prompt", a->no_generation_prompt, "add_generation_prompt=false");
  ct->add_option("messages", a->file, "JSON file: an array of messages, or {messages, tools}")->required();
  ct->callback([a, &exit_code] {
    exit_code = run_chat_template(a->model, a->file, a->template_file, !a->no_generation_prompt);
  });
}

}  // namespace ds::app
