#pragma once
// The BPE model of tokenizer.json: vocab, merge ranks, byte fallback (<0xNN>), unk with fuse_unk,
// continuing_subword_prefix / end_of_word_suffix and ignore_merges, as HF's models::bpe does.
// Immutable after from_json() except for the word cache, which is internally locked.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/tokenizer_json_reader.h"

namespace ds::tok {

// Hash that lets unordered_map<std::string, ...> be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Ids beyond this are rejected as malformed (the id -> token table is dense).
inline constexpr int64_t kMaxTokenId = 1 << 24;

class BpeModel {
 public:
  // `j` is the value of "model" (without vocab/merges, which come streamed in `data`); errors
  // are relative to `path` ("model.merges[3]: ...").
  static Result<std::unique_ptr<BpeModel>> from_json(const Json& j, const BpeData& data, const std::string& path);

  // Appends the ids for one pre-token (its text already byte-level mapped / normalized).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when the id has no token
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct MergeInfo {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  Status load_vocab(const BpeData& data, const std::string& path);
  Status load_merges(const BpeData& data, const std::string& path);
  Status add_merge(const std::string& a, const std::string& b, int32_t rank, const std::string& where);
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;
  void merge(std::vector<int32_t>& ids) const;

  Vocab vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, MergeInfo> merges_;
  std::optional<int32_t> unk_id_;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};  // id of <0xNN>, -1 when absent

  // Word -> ids cache. BPE over a word is pure, so the cache only saves time.
  static constexpr size_t kCacheCapacity = 20000;
  static constexpr size_t kMaxCachedWordBytes = 256;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace ds::tok
