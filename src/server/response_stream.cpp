#include "server/response_stream.h"

#include <chrono>

namespace ds::server {
namespace {
using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}
}  // namespace

ResponseBuilder::ResponseBuilder(const OpenAiRequest& req, const Tokenizer* tok, std::string id, std::string model)
    : req_(req),
      tok_(tok),
      id_(std::move(id)),
      model_(std::move(model)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()),
      n_(req.params.n),
      choices_(req.prompts.size() * size_t(req.params.n)),
      usage_seen_(req.prompts.size(), false) {
  for (Choice& c : choices_) {
    if (req_.endpoint == Endpoint::kChat) c.logprobs = json::array();
    else c.logprobs = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()}, {"text_offset", json::array()}};
  }
  if (req_.echo)
    for (size_t p = 0; p < req.prompts.size(); ++p)
      for (int32_t i = 0; i < n_; ++i) choices_[p * n_ + i].text = req.prompt_texts[p];
}

std::string ResponseBuilder::sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

std::string ResponseBuilder::token_text(int32_t id) const {
  if (!tok_) return "";
  const int32_t ids[1] = {id};
  return tok_->decode(ids, false);
}

json ResponseBuilder::chunk(json choices) const {
  const bool chat = req_.endpoint == Endpoint::kChat;
  json j = {{"id", id_}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created_},
            {"model", model_}, {"choices", std::move(choices)}};
  return j;
}

json ResponseBuilder::usage_json() const {
  json u = {{"prompt_tokens", prompt_tokens_}, {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_}};
  if (cached_tokens_ > 0) u["prompt_tokens_details"] = {{"cached_tokens", cached_tokens_}};
  if (req_.reasoning) {
    int64_t r = 0;
    for (const Choice& c : choices_) r += c.reasoning_tokens;
    u["completion_tokens_details"] = {{"reasoning_tokens", r}};
  }
  return u;
}

// Appends this event's logprobs to the choice and returns the delta in the endpoint's format.
json ResponseBuilder::logprob_delta(Choice& c, const StreamEvent& e) {
  if (!req_.logprobs) return nullptr;
  if (req_.endpoint == Endpoint::kChat) {
    json content = json::array();
    for (const SampledToken& t : e.logprobs) {
      const std::string s = token_text(t.id);
      json top = json::array();
      for (auto [id, lp] : t.top) {
        const std::string ts = token_text(id);
        top.push_back({{"token", ts}, {"logprob", lp}, {"bytes", bytes_of(ts)}});
      }
      content.push_back({{"token", s}, {"logprob", t.logprob}, {"bytes", bytes_of(s)}, {"top_logprobs", top}});
      c.logprobs.push_back(content.back());
    }
    return {{"content", content}};
  }
  json d = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()}, {"text_offset", json::array()}};
  for (const SampledToken& t : e.logprobs) {
    const std::string s = token_text(t.id);
    json top = json::object();
    for (auto [id, lp] : t.top) top[token_text(id)] = lp;
    for (json* target : {&d, &c.logprobs}) {
      (*target)["tokens"].push_back(s);
      (*target)["token_logprobs"].push_back(t.logprob);
      (*target)["top_logprobs"].push_back(*req_.logprobs > 0 ? top : json(nullptr));
      (*target)["text_offset"].push_back(c.text_offset);
    }
    c.text_offset += int64_t(s.size());
  }
  return d;
}

std::string ResponseBuilder::stream_start() {
  std::string out;
  for (size_t i = 0; i < choices_.size(); ++i) {
    if (req_.endpoint == Endpoint::kChat) {
      out += sse(chunk(json::array({{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}})));
    } else if (req_.echo) {
      out += sse(chunk(json::array({{{"index", i}, {"text", choices_[i].text}, {"logprobs", nullptr},
                                     {"finish_reason", nullptr}, {"stop_reason", nullptr}}})));
    }
  }
  return out;
}

std::string ResponseBuilder::on_event(int32_t prompt_index, const StreamEvent& e) {
  const size_t ci = size_t(prompt_index) * n_ + size_t(e.index);
  if (ci >= choices_.size()) return "";
  Choice& c = choices_[ci];
  const bool was_reasoning = c.parser.in_reasoning();
  c.text += e.text;
  json lp = logprob_delta(c, e);
  if (e.finish_reason) {
    c.finish_reason = finish_reason_name(*e.finish_reason);
    c.stop_reason = e.stop_reason;
  }
  if (e.done && !usage_seen_[prompt_index]) {
    usage_seen_[prompt_index] = true;
    prompt_tokens_ += e.usage.prompt_tokens;
    completion_tokens_ += e.usage.completion_tokens;
    cached_tokens_ += e.usage.cached_tokens;
  }
  json delta = json::object();
  if (req_.reasoning) {
    ReasoningParser::Delta d = c.parser.push(e.text);
    if (e.finish_reason) {
      ReasoningParser::Delta f = c.parser.flush();
      d.reasoning += f.reasoning;
      d.content += f.content;
    }
    if (was_reasoning) c.reasoning_tokens += int32_t(e.token_ids.size());
    c.reasoning += d.reasoning;
    c.content += d.content;
    if (!d.reasoning.empty()) delta["reasoning_content"] = delta["reasoning"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
  } else if (!e.text.empty()) {
    delta[req_.endpoint == Endpoint::kChat ? "content" : "text"] = e.text;
  }
  if (!req_.stream) return "";
  if (delta.empty() && lp.is_null() && !e.finish_reason) return "";
  json ch = {{"index", ci}, {"logprobs", lp}, {"finish_reason", e.finish_reason ? json(c.finish_reason) : json(nullptr)}};
  if (req_.endpoint == Endpoint::kChat) {
    ch["delta"] = delta;
  } else {
    ch["text"] = delta.value("text", "");
    ch["stop_reason"] = c.stop_reason.empty() ? json(nullptr) : json(c.stop_reason);
  }
  if (req_.endpoint == Endpoint::kChat && e.finish_reason)
    ch["stop_reason"] = c.stop_reason.empty() ? json(nullptr) : json(c.stop_reason);
  return sse(chunk(json::array({ch})));
}

std::string ResponseBuilder::stream_end() {
  std::string out;
  if (req_.include_usage) {
    json j = chunk(json::array());
    j["usage"] = usage_json();
    out += sse(j);
  }
  return out + "data: [DONE]\n\n";
}

json ResponseBuilder::final_body() const {
  const bool chat = req_.endpoint == Endpoint::kChat;
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json ch = {{"index", i}, {"logprobs", req_.logprobs ? (chat ? json{{"content", c.logprobs}} : c.logprobs) : json(nullptr)},
               {"finish_reason", c.finish_reason.empty() ? json(nullptr) : json(c.finish_reason)},
               {"stop_reason", c.stop_reason.empty() ? json(nullptr) : json(c.stop_reason)}};
    if (!chat) {
      ch["text"] = c.text;
    } else if (req_.reasoning) {
      ch["message"] = {{"role", "assistant"}, {"content", c.content.empty() ? json(nullptr) : json(c.content)},
                       {"reasoning_content", c.reasoning.empty() ? json(nullptr) : json(c.reasoning)}, {"tool_calls", json::array()}};
      ch["message"]["reasoning"] = ch["message"]["reasoning_content"];
    } else {
      ch["message"] = {{"role", "assistant"}, {"content", c.text}, {"tool_calls", json::array()}};
    }
    choices.push_back(std::move(ch));
  }
  json j = {{"id", id_}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created_}, {"model", model_},
            {"choices", std::move(choices)}, {"usage", usage_json()}};
  return j;
}

bool ResponseBuilder::any_aborted() const {
  for (const Choice& c : choices_)
    if (c.finish_reason == "abort") return true;
  return false;
}

std::string ResponseBuilder::finish_reasons() const {
  std::string s;
  for (const Choice& c : choices_) s += (s.empty() ? "" : ",") + c.finish_reason;
  return s;
}

}  // namespace ds::server
