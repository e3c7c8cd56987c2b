#pragma once
// Tokenizer: Hugging Face tokenizer.json (+ tokenizer_config.json) without Python.
// Supports byte-level BPE (Qwen2 / Llama-3 split regexes) and SentencePiece-style BPE with '▁' and
// byte fallback, added tokens (special or not, matched inside text), the BOS post-processor.
// Thread-safety: a loaded Tokenizer is immutable; every const method may be called from any thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ds {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static Result<std::unique_ptr<Tokenizer>> load(const std::filesystem::path& model_dir);
  // Loads from the text of tokenizer.json (and optionally tokenizer_config.json). `source` names
  // the file in error messages. The fuzz target uses this.
  static Result<std::unique_ptr<Tokenizer>> from_json_text(std::string_view tokenizer_json,
                                                           std::string_view tokenizer_config_json,
                                                           const std::string& source);

  // add_special_tokens applies the post-processor (e.g. prepend BOS) exactly as HF's
  // Tokenizer.encode(text, add_special_tokens=...) does.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const = 0;
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const = 0;

  // Size of the id space (max id + 1, added tokens included).
  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;  // "" when unknown
  virtual bool is_special(int32_t id) const = 0;

  // From tokenizer_config.json (bos_token / eos_token, possibly {"content": ...} objects).
  virtual std::optional<int32_t> bos_token_id() const = 0;
  virtual std::optional<int32_t> eos_token_id() const = 0;
  virtual std::string bos_token() const = 0;
  virtual std::string eos_token() const = 0;
  // tokenizer_config.json's chat_template ("" when absent).
  virtual std::string chat_template() const = 0;
};

// Turns a growing list of ids into text deltas that never split a UTF-8 character and agree with
// decode() of the whole list (HF's "prefix offset / read offset" method). One per sequence.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tok, bool skip_special_tokens,
                         std::span<const int32_t> prompt_ids = {});
  // Appends one id; returns the newly completed text (possibly "").
  std::string push(int32_t id);
  // Text held back (an incomplete UTF-8 tail), returned at the end of the sequence.
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
};

}  // namespace ds
