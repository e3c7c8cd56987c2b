#pragma once
// Added tokens (special or not) and how they are found inside text, following HF's
// AddedVocabulary: leftmost-longest matching, tokens with normalized=false matched on the raw
// text, normalized=true ones on the normalized text, and the lstrip / rstrip / single_word flags.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace ds::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

// A run of text between matches (id == -1) or one matched added token.
struct Segment {
  std::string_view text;
  size_t offset = 0;  // byte offset of `text` in the string that was split
  int32_t id = -1;
};

// Leftmost-longest matcher over a fixed set of strings (a byte trie; sets are small).
class TokenMatcher {
 public:
  void build(const std::vector<std::string>& patterns);
  // First match at or after `from`: sets *begin/*end and returns the pattern index, or -1.
  int find(std::string_view text, size_t from, size_t* begin, size_t* end) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::unordered_map<unsigned char, int32_t> child;
    int32_t pattern = -1;
  };
  std::vector<Node> nodes_;
  std::vector<bool> first_byte_;
};

class AddedVocabulary {
 public:
  // Parses "added_tokens"; `path` names it in errors.
  Status load(const Json& arr, const std::string& path);
  // Builds the matchers; `normalizer` (may be null) normalizes normalized=true token contents.
  void build(const Normalizer* normalizer);

  // Splits `text` on tokens matched on raw (normalized == false) or normalized text.
  void split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const;

  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  int32_t max_id() const { return max_id_; }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  TokenMatcher raw_matcher_, norm_matcher_;
  std::vector<size_t> raw_index_, norm_index_;  // matcher pattern -> tokens_ index
  int32_t max_id_ = -1;
};

}  // namespace ds::tok
