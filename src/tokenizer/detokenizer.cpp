// IncrementalDetokenizer: the prefix_offset / read_offset method of HF's TextStreamer and vLLM.
// Each push decodes two short windows that start at prefix_offset_:
//   prefix_text = decode(ids[prefix_offset_, read_offset_))   text already emitted
//   new_text    = decode(ids[prefix_offset_, end))
// and emits new_text beyond prefix_text once it does not end in U+FFFD (an incomplete UTF-8
// character from byte-level or byte-fallback tokens). Decoding from a window instead of only the
// new ids keeps context-dependent decoders right (a leading "▁" becomes a space; Strip only
// touches the window's first token, which both windows share).
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace ds {
namespace {

// vLLM starts the window this many tokens before the end of the prompt.
constexpr size_t kInitialPrefixWindow = 5;

bool ends_with_replacement(const std::string& s) {
  const auto r = tok::kReplacementChar;
  return s.size() >= r.size() && s.compare(s.size() - r.size(), r.size(), r) == 0;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tok, bool skip_special_tokens,
                                               std::span<const int32_t> prompt_ids)
    : tok_(tok), skip_special_(skip_special_tokens), ids_(prompt_ids.begin(), prompt_ids.end()) {
  read_offset_ = ids_.size();
  prefix_offset_ = read_offset_ > kInitialPrefixWindow ? read_offset_ - kInitialPrefixWindow : 0;
}

std::string IncrementalDetokenizer::push(int32_t id) {
  ids_.push_back(id);
  const std::span<const int32_t> all(ids_);
  const std::string prefix_text = tok_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), skip_special_);
  const std::string new_text = tok_.decode(all.subspan(prefix_offset_), skip_special_);
  if (new_text.size() <= prefix_text.size() || ends_with_replacement(new_text)) return "";
  // Decoders we support extend the prefix text; the boundary guard only matters if one did not.
  const size_t cut = tok::utf8_floor_boundary(new_text, prefix_text.size());
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return new_text.substr(cut);
}

std::string IncrementalDetokenizer::flush() {
  const std::span<const int32_t> all(ids_);
  const std::string prefix_text = tok_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), skip_special_);
  const std::string new_text = tok_.decode(all.subspan(prefix_offset_), skip_special_);
  prefix_offset_ = read_offset_ = ids_.size();
  if (new_text.size() <= prefix_text.size()) return "";
  return new_text.substr(tok::utf8_floor_boundary(new_text, prefix_text.size()));
}

}  // namespace ds
