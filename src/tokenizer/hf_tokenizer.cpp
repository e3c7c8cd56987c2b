#include "tokenizer/hf_tokenizer.h"

#include "tokenizer/utf8.h"

namespace ds::tok {

HfTokenizer::HfTokenizer(TokenizerParts parts) : p_(std::move(parts)) { p_.added.build(p_.normalizer.get()); }

void HfTokenizer::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  std::string normalized(text);
  if (p_.normalizer) p_.normalizer->normalize(normalized);
  std::vector<Segment> segments;
  p_.added.split(normalized, /*normalized_pass=*/true, segments);
  std::vector<Piece> pieces;
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    pieces.assign(1, Piece{std::string(seg.text), at_start && seg.offset == 0});
    if (p_.pre_tokenizer) p_.pre_tokenizer->apply(pieces);
    for (const auto& piece : pieces) p_.model->tokenize(piece.text, out);
  }
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  // HF only accepts Unicode strings; make arbitrary bytes valid the way a lossy decode would.
  std::string valid;
  if (!utf8_is_valid(text)) {
    valid = utf8_lossy(text);
    text = valid;
  }
  std::vector<int32_t> ids;
  std::vector<Segment> segments;
  p_.added.split(text, /*normalized_pass=*/false, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) ids.push_back(seg.id);
    else encode_text(seg.text, seg.offset == 0, ids);
  }
  if (add_special_tokens && p_.post_processor) p_.post_processor->process(ids);
  return ids;
}

const std::string* HfTokenizer::token_of(int32_t id) const {
  if (const AddedToken* t = p_.added.by_id(id)) return &t->content;
  return p_.model->id_to_token(id);
}

std::string HfTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* t = token_of(id);
    if (t == nullptr) continue;  // unknown ids are dropped, as in HF
    if (skip_special_tokens && is_special(id)) continue;
    tokens.push_back(*t);
  }
  if (!p_.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  p_.decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

int32_t HfTokenizer::vocab_size() const { return std::max(p_.model->vocab_size(), p_.added.max_id() + 1); }

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = p_.added.by_content(token)) return t->id;
  return p_.model->token_to_id(token);
}

std::string HfTokenizer::id_to_token(int32_t id) const {
  const std::string* t = token_of(id);
  return t ? *t : std::string();
}

bool HfTokenizer::is_special(int32_t id) const {
  const AddedToken* t = p_.added.by_id(id);
  return t != nullptr && t->special;
}

std::optional<int32_t> HfTokenizer::bos_token_id() const {
  if (p_.bos_token.empty()) return std::nullopt;
  return token_to_id(p_.bos_token);
}

std::optional<int32_t> HfTokenizer::eos_token_id() const {
  if (p_.eos_token.empty()) return std::nullopt;
  return token_to_id(p_.eos_token);
}

}  // namespace ds::tok
