#pragma once
// The Tokenizer implementation: HF's pipeline of added-token split -> normalizer -> pre-tokenizer
// -> BPE model -> post-processor, and ids -> tokens -> decoder. Built by tokenizer_json.cpp.
#include <memory>
#include <string>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace ds::tok {

struct TokenizerParts {
  std::unique_ptr<BpeModel> model;
  AddedVocabulary added;
  std::unique_ptr<Normalizer> normalizer;      // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  // From tokenizer_config.json.
  std::string bos_token, eos_token, chat_template;
};

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(TokenizerParts parts);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const override;
  int32_t vocab_size() const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  std::optional<int32_t> bos_token_id() const override;
  std::optional<int32_t> eos_token_id() const override;
  std::string bos_token() const override { return p_.bos_token; }
  std::string eos_token() const override { return p_.eos_token; }
  std::string chat_template() const override { return p_.chat_template; }

 private:
  // Normalizes, splits and BPE-encodes one stretch of text that holds no raw-matched added token.
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const;
  const std::string* token_of(int32_t id) const;

  TokenizerParts p_;
};

}  // namespace ds::tok
