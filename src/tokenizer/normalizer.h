#pragma once
// Normalizers from tokenizer.json: NFC/NFD/NFKC/NFKD (ICU), Lowercase, Prepend, Replace, Strip,
// Sequence. They run on each piece of text between added tokens, exactly as HF does.
#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace ds::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8 and stays valid UTF-8.
  virtual void normalize(std::string& text) const = 0;
};

// `j` is the value of "normalizer" (null gives nullptr, meaning identity). `path` names it in errors.
Result<std::unique_ptr<Normalizer>> make_normalizer(const Json& j, const std::string& path,
                                                    int depth = 0);

}  // namespace ds::tok
