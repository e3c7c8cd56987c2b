#include "tokenizer/tokenizer_json_reader.h"

#include "common/json_nesting.h"

namespace ds::tok {
namespace {

// Builds the DOM for ordinary values and diverts model.vocab / model.merges into BpeData.
class Reader final : public nlohmann::json_sax<Json> {
 public:
  explicit Reader(TokenizerJson& out) : out_(out) {}
  const std::string& error() const { return error_; }

  bool null() override { return scalar(Json()); }
  bool boolean(bool v) override { return scalar(Json(v)); }
  bool number_integer(number_integer_t v) override { return vocab_id(v) || scalar(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override {
    return vocab_id(v > static_cast<number_unsigned_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v)) || scalar(Json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return scalar(Json(v)); }
  bool binary(binary_t&) override { return fail("unexpected binary value"); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) return merge_string(v);
    if (mode_ == Mode::kMergePair) {
      pair_.push_back(std::move(v));
      return true;
    }
    return scalar(Json(std::move(v)));
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    if (mode_ == Mode::kDom && at_model_field("vocab")) {
      mode_ = Mode::kVocab;
      out_.bpe.has_vocab = true;
      return true;
    }
    return open(Json::object());
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kDom && at_model_field("merges")) {
      mode_ = Mode::kMerges;
      out_.bpe.has_merges = true;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_.clear();
      return true;
    }
    return open(Json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) return end_merge_pair();
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) override {
    if (error_.empty()) error_ = "parse error at byte " + std::to_string(pos) + ": " + e.what();
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };
  struct Frame {
    Json* value;
    std::string key;  // key under which this container sits in its parent
  };

  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }
  std::string merge_where() const { return "model.merges[" + std::to_string(out_.bpe.merges.size()) + "]"; }

  // True when the value about to start is root["model"][field].
  bool at_model_field(const char* field) const {
    return stack_.size() == 2 && stack_[1].key == "model" && stack_[1].value->is_object() && key_ == field;
  }

  // Inserts into the current container; returns the inserted value.
  Json* insert(Json v) {
    if (stack_.empty()) {
      out_.root = std::move(v);
      return &out_.root;
    }
    Json& top = *stack_.back().value;
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    Json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool open(Json container) {
    if (mode_ == Mode::kVocab) return fail("model.vocab[\"" + key_ + "\"]: id is not an integer");
    if (mode_ == Mode::kMergePair) return fail(merge_where() + ": expected a [\"a\", \"b\"] pair of strings");
    if (mode_ == Mode::kMerges) return fail(merge_where() + ": expected a \"a b\" string or a [\"a\", \"b\"] pair");
    std::string key = stack_.empty() || stack_.back().value->is_array() ? std::string() : key_;
    Json* v = insert(std::move(container));
    stack_.push_back({v, std::move(key)});
    return true;
  }
  bool scalar(Json v) {
    if (mode_ == Mode::kVocab) return fail("model.vocab[\"" + key_ + "\"]: id is not an integer");
    if (mode_ == Mode::kMerges) return fail(merge_where() + ": expected a \"a b\" string or a [\"a\", \"b\"] pair");
    if (mode_ == Mode::kMergePair) return fail(merge_where() + ": expected a [\"a\", \"b\"] pair of strings");
    insert(std::move(v));
    return true;
  }
  // Returns true when the integer was consumed as a vocab id.
  bool vocab_id(int64_t v) {
    if (mode_ != Mode::kVocab) return false;
    out_.bpe.vocab.emplace_back(key_, v);
    return true;
  }
  bool merge_string(const std::string& s) {
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
      return fail(merge_where() + ": expected \"left right\" with exactly one space");
    }
    out_.bpe.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    return true;
  }
  bool end_merge_pair() {
    if (pair_.size() != 2) return fail(merge_where() + ": expected a [\"a\", \"b\"] pair of strings");
    out_.bpe.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    mode_ = Mode::kMerges;
    return true;
  }

  TokenizerJson& out_;
  Mode mode_ = Mode::kDom;
  std::vector<Frame> stack_;
  std::string key_;
  std::vector<std::string> pair_;
  std::string error_;
};

}  // namespace

Result<TokenizerJson> read_tokenizer_json(std::string_view text) {
  if (!json_nesting_within(text))
    return invalid_argument(json_nesting_error());
  TokenizerJson out;
  Reader reader(out);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &reader, Json::input_format_t::json, true);
  if (!ok || !reader.error().empty()) {
    return invalid_argument(reader.error().empty() ? "parse error" : reader.error());
  }
  return out;
}

}  // namespace ds::tok
