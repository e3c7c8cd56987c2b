// The small endpoints: /v1/models, /health, /version, /tokenize, /detokenize, /metrics.
#include "server/handlers.h"

#include <nlohmann/json.hpp>

#include "common/json_nesting.h"

namespace ds::server {
namespace {
using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Parses a JSON object body; on failure sends the 400 and returns false.
bool parse_object(const httplib::Request& req, httplib::Response& res, json& out) {
  if (!json_nesting_within(req.body)) {
    send_error(res, bad_request("the body: " + json_nesting_error()));
    return false;
  }
  try {
    out = json::parse(req.body);
  } catch (const json::exception& e) {
    send_error(res, bad_request(std::string("the body is not valid JSON: ") + e.what()));
    return false;
  }
  if (!out.is_object()) {
    send_error(res, bad_request("the body must be a JSON object"));
    return false;
  }
  return true;
}

bool check_model(ServerContext& ctx, const json& o, httplib::Response& res) {
  if (!o.contains("model") || o["model"].is_null()) return true;
  if (!o["model"].is_string()) return send_error(res, bad_request("'model' must be a string", "model")), false;
  if (ctx.serves(o["model"].get<std::string>())) return true;
  send_error(res, model_not_found(o["model"].get<std::string>()));
  return false;
}
}  // namespace

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(e.body(), "application/json");
}

void send_json(httplib::Response& res, const std::string& body, int status) {
  res.status = status;
  res.set_content(body, "application/json");
}

void handle_models(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
  const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(ctx.started.time_since_epoch()).count();
  json data = json::array();
  for (const std::string& name : ctx.cfg.served_model_names) {
    data.push_back({{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "dsserve"},
                    {"root", ctx.cfg.model_path}, {"parent", nullptr}, {"max_model_len", ctx.protocol.max_model_len},
                    {"permission", json::array()}});
  }
  send_json(res, dump({{"object", "list"}, {"data", data}}));
}

void handle_health(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
  if (!ctx.ready) return send_error(res, not_ready());
  res.status = 200;  // vLLM: empty body
}

void handle_version(ServerContext&, const httplib::Request&, httplib::Response& res) {
  send_json(res, dump({{"version", "0.1.0"}, {"server", "dsserve"}}));
}

// {"prompt": TEXT, "add_special_tokens": true} or {"messages": [...], "add_generation_prompt": true}.
void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  json o;
  if (!parse_object(req, res, o) || !check_model(ctx, o, res)) return;
  if (!ctx.protocol.tokenizer) return send_error(res, bad_request("this model has no tokenizer"));
  std::vector<int32_t> ids;
  try {
    if (o.contains("messages")) {
      auto ordered = nlohmann::ordered_json::parse(req.body);
      if (auto e = normalize_messages(ordered["messages"])) return send_error(res, *e);
      auto text = render_chat_messages(ctx.protocol, ordered["messages"], nullptr, o.value("add_generation_prompt", true), nullptr);
      if (!text.ok()) return send_error(res, from_status(text.status(), "messages"));
      ids = ctx.protocol.tokenizer->encode(*text, o.value("add_special_tokens", false));
    } else if (o.contains("prompt") && o["prompt"].is_string()) {
      ids = ctx.protocol.tokenizer->encode(o["prompt"].get<std::string>(), o.value("add_special_tokens", true));
    } else {
      return send_error(res, bad_request("expected 'prompt' (string) or 'messages' (array)", "prompt"));
    }
  } catch (const json::exception& e) {
    return send_error(res, bad_request(std::string("a field has the wrong type: ") + e.what()));
  }
  json strs = json::array();
  if (o.value("return_token_strs", false))
    for (int32_t id : ids) strs.push_back(ctx.protocol.tokenizer->id_to_token(id));
  send_json(res, dump({{"count", ids.size()}, {"max_model_len", ctx.protocol.max_model_len}, {"tokens", ids},
                       {"token_strs", strs.empty() ? json(nullptr) : strs}}));
}

void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  json o;
  if (!parse_object(req, res, o) || !check_model(ctx, o, res)) return;
  if (!ctx.protocol.tokenizer) return send_error(res, bad_request("this model has no tokenizer"));
  if (!o.contains("tokens") || !o["tokens"].is_array()) return send_error(res, bad_request("'tokens' must be an array of token ids", "tokens"));
  std::vector<int32_t> ids;
  const int32_t vocab = ctx.protocol.tokenizer->vocab_size();
  for (auto& t : o["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
      return send_error(res, bad_request("token ids must be integers in [0, " + std::to_string(vocab) + ")", "tokens"));
    ids.push_back(t.get<int32_t>());
  }
  send_json(res, dump({{"prompt", ctx.protocol.tokenizer->decode(ids, o.value("skip_special_tokens", false))}}));
}

void handle_metrics(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
  if (!ctx.ready || !ctx.metrics) return send_error(res, not_ready());
  res.status = 200;
  if (ctx.gpu_metrics) ctx.gpu_metrics->refresh();
  res.set_content(ctx.metrics->render(ctx.engine->stats()), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace ds::server
