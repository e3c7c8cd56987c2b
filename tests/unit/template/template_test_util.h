#pragma once
// Helpers shared by the chat-template tests.
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "template/chat_template.h"

namespace ds::test {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// Parses and renders `source` with `context` as extra variables (messages taken from it if present).
inline Result<std::string> render_source(const std::string& source, const nlohmann::json& context = nlohmann::json::object()) {
  auto t = ChatTemplate::parse(source);
  if (!t.ok()) return t.status();
  nlohmann::json messages = context.contains("messages") ? context["messages"] : nlohmann::json::array();
  ChatTemplateInputs in;
  in.messages = &messages;
  in.extra_context = &context;
  return t->render(in);
}

}  // namespace ds::test
