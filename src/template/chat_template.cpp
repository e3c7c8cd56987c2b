// ChatTemplate: the HF-facing wrapper. Builds the render context exactly as transformers'
// apply_chat_template does: messages, tools (None when absent), add_generation_prompt, the special
// tokens, extra kwargs, and the globals raise_exception() and strftime_now().
#include "template/chat_template.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "template/jinja_ast.h"
#include "template/jinja_eval.h"
#include "template/jinja_parser.h"

namespace ds {

using jinja::CallArgs;
using jinja::Value;

namespace {

Result<Value> raise_exception(CallArgs& a) {
  std::string msg = "raise_exception() called";
  if (!a.positional.empty()) {
    auto s = jinja::to_str(a.positional[0]);
    if (s.ok()) msg = *s;
  }
  return invalid_argument("chat template error: " + msg);
}

Result<Value> strftime_now(CallArgs& a) {
  if (a.positional.empty() || !a.positional[0].is_string())
    return invalid_argument("strftime_now() expects a format string");
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, a.positional[0].as_string().c_str(), &tm);
  return Value::string(std::string(buf, n));
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  DS_ASSIGN_OR_RETURN(std::unique_ptr<jinja::Template> t, jinja::parse_template(source));
  ChatTemplate ct;
  ct.tmpl_ = std::move(t);
  return ct;
}

namespace {

template <class Json>
Status add_extra_context(jinja::ValueDict& d, const Json& extra) {
  if (!extra.is_object()) return invalid_argument("chat template kwargs must be an object");
  for (auto it = extra.begin(); it != extra.end(); ++it) d.set(it.key(), Value::from_json(it.value()));
  return Status::ok();
}

template <class Json>
Value optional_json(const Json* j, Value fallback) {
  return j && !j->is_null() ? Value::from_json(*j) : fallback;
}

}  // namespace

Result<std::string> ChatTemplate::render(const ChatTemplateInputs& inputs) const {
  Value ctx = Value::dict();
  jinja::ValueDict& d = ctx.dict_data();
  jinja::add_builtin_globals(d);
  d.set("raise_exception", Value::callable("raise_exception", raise_exception));
  d.set("strftime_now", Value::callable("strftime_now", strftime_now));
  if (inputs.ordered_extra_context) DS_RETURN_IF_ERROR(add_extra_context(d, *inputs.ordered_extra_context));
  else if (inputs.extra_context) DS_RETURN_IF_ERROR(add_extra_context(d, *inputs.extra_context));
  d.set("messages", inputs.ordered_messages ? Value::from_json(*inputs.ordered_messages)
                                            : optional_json(inputs.messages, Value::list()));
  d.set("tools", inputs.ordered_tools ? optional_json(inputs.ordered_tools, Value::none())
                                      : optional_json(inputs.tools, Value::none()));
  d.set("add_generation_prompt", Value::boolean(inputs.add_generation_prompt));
  d.set("bos_token", Value::string(inputs.bos_token));
  d.set("eos_token", Value::string(inputs.eos_token));
  return jinja::render_template(*tmpl_, ctx);
}

ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

}  // namespace ds
