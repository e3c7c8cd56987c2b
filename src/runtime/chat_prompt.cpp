#include "runtime/chat_prompt.h"

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

namespace ds {

Result<std::string> render_chat(const Tokenizer& tok, const std::string& template_source,
                                const nlohmann::json& messages, bool add_generation_prompt,
                                const nlohmann::json* tools) {
  const std::string src = template_source.empty() ? tok.chat_template() : template_source;
  if (src.empty()) return invalid_argument("the model has no chat template (tokenizer_config.json chat_template)");
  DS_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::parse(src));
  ChatTemplateInputs in;
  in.messages = &messages;
  in.tools = tools;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = tok.bos_token();
  in.eos_token = tok.eos_token();
  return tmpl.render(in);
}

}  // namespace ds
