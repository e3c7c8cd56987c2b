#pragma once
// Reads tokenizer.json in one SAX pass. model.vocab and model.merges (hundreds of thousands of
// entries) stream straight into flat vectors; everything else becomes a small nlohmann::json DOM.
// A full DOM of a 9 MB file costs ~0.5 s to build and ~0.2 s to free; this pass costs ~0.1 s.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/json_fields.h"

namespace ds::tok {

struct BpeData {
  std::vector<std::pair<std::string, int64_t>> vocab;      // in file order
  std::vector<std::pair<std::string, std::string>> merges;  // rank = index
  bool has_vocab = false;   // model.vocab was an object (else it is left in the DOM)
  bool has_merges = false;  // model.merges was an array (else it is left in the DOM)
};

struct TokenizerJson {
  Json root;  // model.vocab / model.merges removed when streamed
  BpeData bpe;
};

// Errors: "parse error at byte N: ..." or "model.vocab[\"tok\"]: id is not an integer", etc.
Result<TokenizerJson> read_tokenizer_json(std::string_view text);

}  // namespace ds::tok
