#pragma once
// Post-processors from tokenizer.json, applied only when add_special_tokens is true:
// TemplateProcessing (single sequence), ByteLevel (ids unchanged), Bert/Roberta, Sequence.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace ds::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

Result<std::unique_ptr<PostProcessor>> make_post_processor(const Json& j, const std::string& path,
                                                           int depth = 0);

}  // namespace ds::tok
