#include "server/openai_protocol.h"

#include <algorithm>
#include <climits>

#include "app/sampling_fields.h"
#include "common/json_nesting.h"

namespace ds::server {
namespace {

using ojson = nlohmann::ordered_json;

// The field named in quotes in a sampling_fields message ("'top_p' has the wrong type").
std::string quoted_field(const std::string& msg) {
  const size_t a = msg.find('\'');
  const size_t b = a == std::string::npos ? a : msg.find('\'', a + 1);
  return b == std::string::npos ? "" : msg.substr(a + 1, b - a - 1);
}

bool is_id_array(const nlohmann::json& v) {
  return v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](auto& x) { return x.is_number_integer(); });
}

std::optional<ApiError> check_int_field(const nlohmann::json& o, const char* name, int64_t lo, int64_t hi) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return bad_request(std::string("'") + name + "' must be an integer", name);
  const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : it->get<int64_t>();
  if (v < lo || v > hi)
    return bad_request(std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                           "], got " + std::to_string(v), name);
  return std::nullopt;
}

std::optional<ApiError> tokenize_prompts(const nlohmann::json& prompt, const ProtocolContext& ctx, OpenAiRequest& out) {
  auto add_text = [&](const std::string& text) -> std::optional<ApiError> {
    if (!ctx.tokenizer) return bad_request("this model has no tokenizer: send the prompt as token ids", "prompt");
    out.prompts.push_back(ctx.tokenizer->encode(text, true));
    out.prompt_texts.push_back(text);
    return std::nullopt;
  };
  auto add_ids = [&](const nlohmann::json& ids) {
    out.prompts.push_back(ids.get<std::vector<int32_t>>());
    out.prompt_texts.push_back(ctx.tokenizer ? ctx.tokenizer->decode(out.prompts.back(), false) : "");
  };
  if (prompt.is_string()) return add_text(prompt.get<std::string>());
  if (is_id_array(prompt)) {
    for (auto& x : prompt)
      if (x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX) return bad_request("token id out of range", "prompt");
    add_ids(prompt);
    return std::nullopt;
  }
  if (!prompt.is_array() || prompt.empty())
    return bad_request("'prompt' must be a string, an array of strings, an array of token ids or an array of those", "prompt");
  for (auto& p : prompt) {
    if (p.is_string()) {
      if (auto e = add_text(p.get<std::string>())) return e;
    } else if (is_id_array(p)) {
      for (auto& x : p)
        if (x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX) return bad_request("token id out of range", "prompt");
      add_ids(p);
    } else {
      return bad_request("each prompt must be a string or a non-empty array of token ids", "prompt");
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> normalize_messages(ojson& messages) {
  if (!messages.is_array() || messages.empty()) return bad_request("'messages' must be a non-empty array", "messages");
  for (ojson& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad_request("each message must be an object with a string 'role'", "messages");
    auto it = m.find("content");
    if (it == m.end() || it->is_null() || it->is_string()) continue;
    if (!it->is_array()) return bad_request("message 'content' must be a string or an array of parts", "messages");
    std::string text;
    for (auto& part : *it) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        return bad_request("only text content parts are supported", "messages");
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
    *it = text;
  }
  return std::nullopt;
}

namespace {

std::optional<ApiError> chat_prompt(const std::string& body, const ProtocolContext& ctx, OpenAiRequest& out) {
  if (!ctx.tokenizer || !ctx.chat_template)
    return bad_request("this model has no chat template: use /v1/completions or start with --chat-template FILE", "messages");
  ojson o = ojson::parse(body);  // already known to be valid JSON
  if (auto e = normalize_messages(o["messages"])) return e;
  const ojson* tools = o.contains("tools") && !o["tools"].is_null() ? &o["tools"] : nullptr;
  if (tools && !tools->is_array()) return bad_request("'tools' must be an array", "tools");
  const ojson* kwargs = o.contains("chat_template_kwargs") && o["chat_template_kwargs"].is_object() ? &o["chat_template_kwargs"] : nullptr;
  bool add_gen = true;
  if (o.contains("add_generation_prompt")) {
    if (!o["add_generation_prompt"].is_boolean()) return bad_request("'add_generation_prompt' must be a boolean", "add_generation_prompt");
    add_gen = o["add_generation_prompt"].get<bool>();
  }
  auto text = render_chat_messages(ctx, o["messages"], tools, add_gen, kwargs);
  if (!text.ok()) return from_status(text.status(), "messages");
  out.prompts.push_back(ctx.tokenizer->encode(*text, false));
  out.prompt_texts.push_back(*text);
  return std::nullopt;
}

void apply_generation_defaults(const GenerationDefaults& g, SamplingParams& p) {
  p.temperature = g.do_sample == false ? 0.0 : g.temperature.value_or(1.0);
  p.top_p = g.top_p.value_or(1.0);
  p.top_k = int32_t(g.top_k.value_or(0));
  if (g.repetition_penalty) p.repetition_penalty = *g.repetition_penalty;
}

std::optional<ApiError> parse_logprobs(Endpoint ep, const nlohmann::json& o, OpenAiRequest& out) {
  if (ep == Endpoint::kCompletions) {
    if (auto e = check_int_field(o, "logprobs", 0, 20)) return e;
    if (o.contains("logprobs") && !o["logprobs"].is_null()) out.logprobs = o["logprobs"].get<int32_t>();
    return std::nullopt;
  }
  if (auto e = check_int_field(o, "top_logprobs", 0, 20)) return e;
  auto it = o.find("logprobs");
  if (it != o.end() && !it->is_null() && !it->is_boolean()) return bad_request("'logprobs' must be a boolean", "logprobs");
  const bool on = it != o.end() && it->is_boolean() && it->get<bool>();
  const int32_t top = o.contains("top_logprobs") && !o["top_logprobs"].is_null() ? o["top_logprobs"].get<int32_t>() : 0;
  if (on) out.logprobs = top;
  else if (top > 0) return bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  return std::nullopt;
}

std::optional<ApiError> parse_fields(Endpoint ep, const nlohmann::json& o, const ProtocolContext& ctx, OpenAiRequest& out) {
  if (o.contains("model") && !o["model"].is_null() && !o["model"].is_string()) return bad_request("'model' must be a string", "model");
  out.model = o.value("model", "");
  for (const char* b : {"stream", "echo"})
    if (o.contains(b) && !o[b].is_null() && !o[b].is_boolean()) return bad_request(std::string("'") + b + "' must be a boolean", b);
  out.stream = o.value("stream", false);
  out.echo = ep == Endpoint::kCompletions && o.value("echo", false);
  if (auto it = o.find("stream_options"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    if (it->contains("include_usage") && !(*it)["include_usage"].is_boolean())
      return bad_request("'stream_options.include_usage' must be a boolean", "stream_options");
    out.include_usage = it->value("include_usage", false);
  }
  for (const char* f : {"max_tokens", "max_completion_tokens"})
    if (auto e = check_int_field(o, f, 1, INT32_MAX)) return e;
  if (auto e = check_int_field(o, "n", 1, ctx.cfg->max_n)) return e;
  if (auto e = check_int_field(o, "min_tokens", 0, INT32_MAX)) return e;
  if (auto e = check_int_field(o, "top_k", -1, INT32_MAX)) return e;
  if (auto e = parse_logprobs(ep, o, out)) return e;

  nlohmann::json fields = o;
  fields.erase("logprobs");  // handled above (a bool in chat, an int in completions)
  fields.erase("top_logprobs");
  if (ep == Endpoint::kChat && fields.contains("max_completion_tokens") && !fields["max_completion_tokens"].is_null())
    fields["max_tokens"] = fields["max_completion_tokens"];
  apply_generation_defaults(ctx.generation, out.params);
  out.params.max_tokens = 16;  // OpenAI's default for completions; chat fills the context below
  if (Status s = app::apply_sampling_fields(fields, out.params); !s.is_ok()) return bad_request(s.message(), quoted_field(s.message()));
  out.params.logprobs = out.logprobs;
  if (int32_t(out.params.stop.size()) > ctx.cfg->max_stop)
    return bad_request("at most " + std::to_string(ctx.cfg->max_stop) + " stop strings are allowed", "stop");
  for (const std::string& s : out.params.stop)
    if (s.empty()) return bad_request("stop strings must not be empty", "stop");
  return std::nullopt;
}

}  // namespace

Result<std::string> render_chat_messages(const ProtocolContext& ctx, const ojson& messages, const ojson* tools,
                                         bool add_generation_prompt, const ojson* kwargs) {
  if (!ctx.tokenizer || !ctx.chat_template) return invalid_argument("this model has no chat template");
  ChatTemplateInputs in;
  in.ordered_messages = &messages;
  in.ordered_tools = tools;
  in.ordered_extra_context = kwargs;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = ctx.tokenizer->bos_token();
  in.eos_token = ctx.tokenizer->eos_token();
  return ctx.chat_template->render(in);
}

std::optional<ApiError> parse_openai_request(Endpoint ep, const std::string& body, const ProtocolContext& ctx,
                                             OpenAiRequest& out) {
  out.endpoint = ep;
  if (!json_nesting_within(body)) return bad_request("the body: " + json_nesting_error());
  nlohmann::json o;
  try {
    o = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    return bad_request(std::string("the body is not valid JSON: ") + e.what());
  }
  if (!o.is_object()) return bad_request("the body must be a JSON object");
  try {
    if (auto e = parse_fields(ep, o, ctx, out)) return e;
    const bool max_given = o.contains(ep == Endpoint::kChat && o.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens") &&
                           !o[ep == Endpoint::kChat && o.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens"].is_null();
    if (ep == Endpoint::kChat) {
      if (!o.contains("messages")) return bad_request("'messages' is required", "messages");
      if (auto e = chat_prompt(body, ctx, out)) return e;
      out.reasoning = ctx.reasoning;
    } else {
      if (!o.contains("prompt") || o["prompt"].is_null()) return bad_request("'prompt' is required", "prompt");
      if (auto e = tokenize_prompts(o["prompt"], ctx, out)) return e;
      // vLLM answers echo + logprobs with the prompt's logprobs too; the engine computes logprobs
      // of sampled tokens only, so the combination is refused rather than answered half-filled.
      if (out.echo && out.logprobs)
        return bad_request("'echo' together with 'logprobs' is not supported: dsserve does not compute prompt logprobs. "
                           "Send 'echo' or 'logprobs', not both.", "echo");
    }
    if (int64_t(out.prompts.size()) * out.params.n > ctx.cfg->max_n)
      return bad_request("n times the number of prompts must be at most " + std::to_string(ctx.cfg->max_n), "n");
    for (const auto& p : out.prompts)
      if (p.empty()) return bad_request("the prompt is empty", "prompt");
    if (!max_given && ep == Endpoint::kChat) {
      size_t longest = 0;
      for (const auto& p : out.prompts) longest = std::max(longest, p.size());
      out.params.max_tokens = std::max<int32_t>(1, ctx.max_model_len - int32_t(std::min<size_t>(longest, INT32_MAX)));
    }
  } catch (const nlohmann::json::exception& e) {
    return bad_request(std::string("a field has the wrong type: ") + e.what());
  }
  return std::nullopt;
}

}  // namespace ds::server
