#pragma once
// Pre-tokenizers from tokenizer.json: Split (regex or string, every HF delimiter behaviour),
// ByteLevel, Metaspace, Sequence. Each one maps a list of pieces to a finer list of pieces; the
// model then encodes every piece on its own.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace ds::tok {

struct Piece {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original input (Metaspace prepend "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with the finer split; never yields empty pieces.
  virtual void apply(std::vector<Piece>& pieces) const = 0;
};

// `j` is the value of "pre_tokenizer" (null gives nullptr, meaning "the whole piece").
Result<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const Json& j, const std::string& path,
                                                         int depth = 0);

}  // namespace ds::tok
