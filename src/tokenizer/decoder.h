#pragma once
// Decoders from tokenizer.json: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
// Sequence. Like HF, each maps a list of token strings to a new list (decode_chain); the text is
// the concatenation of the final list. Output is always valid UTF-8.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace ds::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// `j` is the value of "decoder" (null gives nullptr: tokens are joined with spaces, as HF does).
Result<std::unique_ptr<Decoder>> make_decoder(const Json& j, const std::string& path, int depth = 0);

}  // namespace ds::tok
