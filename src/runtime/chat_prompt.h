#pragma once
// Chat prompts: renders a model's chat template (tokenizer_config.json, or a --chat-template file)
// with HF's variables and tokenizes the result without adding special tokens (the template writes
// the BOS itself).
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "tokenizer/tokenizer.h"

namespace ds {

Result<std::string> render_chat(const Tokenizer& tok, const std::string& template_source,
                                const nlohmann::json& messages, bool add_generation_prompt,
                                const nlohmann::json* tools = nullptr);

}  // namespace ds
