#pragma once
// ChatTemplate: renders Hugging Face chat templates (a Jinja subset) exactly as transformers does
// (jinja2 with trim_blocks=True, lstrip_blocks=True, raise_exception, tojson, strftime_now).
// An unsupported construct is a parse-time error naming it, never a silently wrong prompt.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace ds {

namespace jinja {
class Template;  // parsed program (src/template/jinja_*.h)
}

struct ChatTemplateInputs {
  const nlohmann::json* messages = nullptr;  // array of {"role", "content", ...}
  const nlohmann::json* tools = nullptr;     // optional array, may be null
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // Extra template variables (e.g. chat_template_kwargs from a request); may be null.
  const nlohmann::json* extra_context = nullptr;
  // Key-order-preserving alternatives to the three fields above; when set they take precedence.
  // HF renders Python dicts in insertion order, which `tojson` (e.g. of tool schemas) makes visible,
  // while nlohmann::json sorts keys: parse requests into ordered_json to match HF byte for byte.
  const nlohmann::ordered_json* ordered_messages = nullptr;
  const nlohmann::ordered_json* ordered_tools = nullptr;
  const nlohmann::ordered_json* ordered_extra_context = nullptr;
};

class ChatTemplate {
 public:
  static Result<ChatTemplate> parse(std::string_view source);
  // Errors from raise_exception() or runtime type errors come back as kInvalidArgument.
  Result<std::string> render(const ChatTemplateInputs& inputs) const;

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

 private:
  ChatTemplate() = default;
  std::unique_ptr<jinja::Template> tmpl_;
};

}  // namespace ds
