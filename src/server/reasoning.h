#pragma once
// DeepSeek-R1 reasoning split (vLLM --reasoning-parser deepseek_r1): text before `</think>` is
// reasoning, text after it is content. The R1 template ends the prompt with `<think>\n`, so the
// output starts inside the reasoning block; a leading `<think>` the model writes itself is dropped.
// Streaming-safe: a `</think>` split across deltas is held back until it is decided.
// One parser per choice; not thread-safe (one HTTP thread owns it).
#include <string>
#include <string_view>

namespace ds::server {

class ReasoningParser {
 public:
  struct Delta {
    std::string reasoning, content;
  };
  Delta push(std::string_view text);
  Delta flush();  // end of output: releases whatever was held back
  bool in_reasoning() const { return reasoning_; }

 private:
  bool reasoning_ = true;
  bool at_start_ = true;  // a leading "<think>" may still arrive
  std::string held_;
};

}  // namespace ds::server
