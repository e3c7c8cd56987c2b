#include "tokenizer/added_tokens.h"

#include <unicode/uchar.h>

#include "tokenizer/bpe.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace ds::tok {
namespace {

// Code point before `end` (valid UTF-8), or 0 at the start.
char32_t last_char(std::string_view s, size_t end) {
  if (end == 0) return 0;
  const size_t b = utf8_floor_boundary(s, end - 1);
  const size_t n = utf8_valid_len(s, b);
  return n ? utf8_decode_at(s, b, n) : 0;
}

char32_t first_char(std::string_view s, size_t begin) {
  if (begin >= s.size()) return 0;
  const size_t n = utf8_valid_len(s, begin);
  return n ? utf8_decode_at(s, begin, n) : 0;
}

bool is_word_char(char32_t c) { return c != 0 && (u_isalnum(static_cast<UChar32>(c)) || c == U'_'); }

// Start of the whitespace run that ends at `end`.
size_t whitespace_run_start(std::string_view s, size_t end) {
  while (end > 0 && is_unicode_whitespace(last_char(s, end))) end = utf8_floor_boundary(s, end - 1);
  return end;
}

// End of the whitespace run that starts at `begin`.
size_t whitespace_run_end(std::string_view s, size_t begin) {
  while (begin < s.size() && is_unicode_whitespace(first_char(s, begin))) begin += utf8_valid_len(s, begin);
  return begin;
}

}  // namespace

void TokenMatcher::build(const std::vector<std::string>& patterns) {
  nodes_.assign(1, Node{});
  first_byte_.assign(256, false);
  for (size_t p = 0; p < patterns.size(); ++p) {
    if (patterns[p].empty()) continue;
    int32_t cur = 0;
    for (unsigned char c : patterns[p]) {
      auto it = nodes_[cur].child.find(c);
      if (it == nodes_[cur].child.end()) {
        nodes_.push_back(Node{});
        const auto idx = static_cast<int32_t>(nodes_.size() - 1);
        nodes_[cur].child.emplace(c, idx);
        cur = idx;
      } else {
        cur = it->second;
      }
    }
    if (nodes_[cur].pattern < 0) nodes_[cur].pattern = static_cast<int32_t>(p);
    first_byte_[static_cast<unsigned char>(patterns[p][0])] = true;
  }
}

int TokenMatcher::find(std::string_view text, size_t from, size_t* begin, size_t* end) const {
  if (empty()) return -1;
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
    int32_t cur = 0, best = -1;
    size_t best_end = 0;
    for (size_t k = i; k < text.size(); ++k) {
      auto it = nodes_[cur].child.find(static_cast<unsigned char>(text[k]));
      if (it == nodes_[cur].child.end()) break;
      cur = it->second;
      if (nodes_[cur].pattern >= 0) {
        best = nodes_[cur].pattern;
        best_end = k + 1;
      }
    }
    if (best >= 0) {
      *begin = i;
      *end = best_end;
      return best;
    }
  }
  return -1;
}

Status AddedVocabulary::load(const Json& arr, const std::string& path) {
  if (arr.is_null()) return Status::ok();
  if (!arr.is_array()) return invalid_argument(path + ": expected an array");
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string where = path + "[" + std::to_string(i) + "]";
    const Json& j = arr[i];
    DS_RETURN_IF_ERROR(expect_object(j, where));
    AddedToken t;
    DS_ASSIGN_OR_RETURN(int64_t id, get_int_or(j, "id", where, -1));
    if (id < 0 || id >= kMaxTokenId) return invalid_argument(where + ".id: missing or out of range");
    t.id = static_cast<int32_t>(id);
    DS_ASSIGN_OR_RETURN(t.content, get_string(j, "content", where));
    DS_ASSIGN_OR_RETURN(t.special, get_bool_or(j, "special", where, false));
    DS_ASSIGN_OR_RETURN(t.lstrip, get_bool_or(j, "lstrip", where, false));
    DS_ASSIGN_OR_RETURN(t.rstrip, get_bool_or(j, "rstrip", where, false));
    DS_ASSIGN_OR_RETURN(t.single_word, get_bool_or(j, "single_word", where, false));
    DS_ASSIGN_OR_RETURN(t.normalized, get_bool_or(j, "normalized", where, !t.special));
    if (t.content.empty() || by_content_.count(t.content)) continue;  // HF ignores these too
    by_content_.emplace(t.content, tokens_.size());
    by_id_[t.id] = tokens_.size();
    max_id_ = std::max(max_id_, t.id);
    tokens_.push_back(std::move(t));
  }
  return Status::ok();
}

void AddedVocabulary::build(const Normalizer* normalizer) {
  std::vector<std::string> raw, norm;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].normalized) {
      std::string content = tokens_[i].content;
      if (normalizer) normalizer->normalize(content);
      norm.push_back(std::move(content));
      norm_index_.push_back(i);
    } else {
      raw.push_back(tokens_[i].content);
      raw_index_.push_back(i);
    }
  }
  raw_matcher_.build(raw);
  norm_matcher_.build(norm);
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const {
  const TokenMatcher& matcher = normalized_pass ? norm_matcher_ : raw_matcher_;
  const std::vector<size_t>& index = normalized_pass ? norm_index_ : raw_index_;
  size_t done = 0;  // end of the last emitted segment
  size_t search = 0, mb = 0, me = 0;
  for (int p; (p = matcher.find(text, search, &mb, &me)) >= 0;) {
    search = me;
    const AddedToken& t = tokens_[index[p]];
    if (t.single_word && (is_word_char(last_char(text, mb)) || is_word_char(first_char(text, me)))) continue;
    size_t b = mb, e = me;
    if (t.lstrip) b = std::max(whitespace_run_start(text, b), done);
    if (t.rstrip) e = whitespace_run_end(text, e);
    if (b > done) out.push_back({text.substr(done, b - done), done, -1});
    out.push_back({text.substr(b, e - b), b, t.id});
    done = e;
    search = std::max(search, e);
  }
  if (done < text.size()) out.push_back({text.substr(done), done, -1});
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace ds::tok
