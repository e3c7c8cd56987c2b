// libFuzzer target: parse an arbitrary chat template and render it against a small fixed
// conversation. Any input must give output or a Status; never a crash, hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::json kMessages = nlohmann::json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi <think>x</think> é"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
    {"role": "tool", "content": "42"},
    {"role": "assistant", "content": "<think>r</think>done"}
  ])");
  static const nlohmann::json kTools = nlohmann::json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
  auto tmpl = ds::ChatTemplate::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!tmpl.ok()) return 0;
  ds::ChatTemplateInputs in;
  in.messages = &kMessages;
  in.tools = &kTools;
  in.add_generation_prompt = true;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  auto out = tmpl->render(in);
  (void)out;
  return 0;
}
