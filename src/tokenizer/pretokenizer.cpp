#include "tokenizer/pretokenizer.h"

#include <optional>

#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"

namespace ds::tok {
namespace {

// GPT-2's split regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Part {
  size_t begin, end;
  bool is_match;
};

// Covers the whole text with alternating unmatched / matched parts (empty parts allowed).
std::vector<Part> to_parts(size_t len, const std::vector<Span>& matches, bool invert) {
  std::vector<Part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != len) parts.push_back({prev, len, invert});
  return parts;
}

// Folds parts following HF's SplitDelimiterBehavior; the result has is_match unused.
std::vector<Part> apply_behavior(std::vector<Part> parts, Behavior behavior) {
  std::vector<Part> out;
  bool prev_match = false;
  switch (behavior) {
    case Behavior::kIsolated:
      return parts;
    case Behavior::kRemoved:
      for (const auto& p : parts) {
        if (!p.is_match) out.push_back(p);
      }
      return out;
    case Behavior::kMergedWithPrevious:
    case Behavior::kContiguous:
      for (const auto& p : parts) {
        const bool merge = behavior == Behavior::kContiguous ? p.is_match == prev_match
                                                             : (p.is_match && !prev_match);
        if (merge && !out.empty()) out.back().end = p.end;
        else out.push_back(p);
        prev_match = p.is_match;
      }
      return out;
    case Behavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !prev_match && !out.empty()) out.back().begin = it->begin;
        else out.push_back(*it);
        prev_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
  }
  return parts;
}

void split_pieces(std::vector<Piece>& pieces, const Pattern& pattern, Behavior behavior, bool invert) {
  std::vector<Piece> out;
  std::vector<Span> matches;
  for (auto& piece : pieces) {
    matches.clear();
    pattern.find_all(piece.text, matches);
    const auto parts = apply_behavior(to_parts(piece.text.size(), matches, invert), behavior);
    for (const auto& p : parts) {
      if (p.end <= p.begin) continue;
      out.push_back({piece.text.substr(p.begin, p.end - p.begin), piece.at_start && p.begin == 0});
    }
  }
  pieces = std::move(out);
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern p, Behavior b, bool invert) : pattern_(std::move(p)), behavior_(b), invert_(invert) {}
  void apply(std::vector<Piece>& pieces) const override { split_pieces(pieces, pattern_, behavior_, invert_); }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<Pattern> split)
      : add_prefix_space_(add_prefix_space), split_(std::move(split)) {}
  void apply(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(0, " ");
      }
    }
    if (split_) split_pieces(pieces, *split_, Behavior::kIsolated, false);
    for (auto& p : pieces) {
      std::string mapped;
      bytes_to_byte_level(p.text, mapped);
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<Pattern> split_;
};

enum class Prepend { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void apply(std::vector<Piece>& pieces) const override {
    const Pattern space = Pattern::literal(" ");
    for (auto& p : pieces) {
      p.text = space.replace_all(p.text, replacement_);
      const bool starts = p.text.compare(0, replacement_.size(), replacement_) == 0;
      const bool want = prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && p.at_start);
      if (want && !starts) p.text.insert(0, replacement_);
    }
    if (split_) split_pieces(pieces, Pattern::literal(replacement_), Behavior::kMergedWithNext, false);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void apply(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->apply(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

Result<Behavior> parse_behavior(const std::string& s, const std::string& path) {
  if (s == "Removed") return Behavior::kRemoved;
  if (s == "Isolated") return Behavior::kIsolated;
  if (s == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::kMergedWithNext;
  if (s == "Contiguous") return Behavior::kContiguous;
  return invalid_argument(path + ".behavior: unknown value '" + s + "'");
}

Result<std::unique_ptr<PreTokenizer>> make_split(const Json& j, const std::string& path) {
  auto it = j.find("pattern");
  if (it == j.end()) return invalid_argument(path + ".pattern missing");
  DS_ASSIGN_OR_RETURN(Pattern pattern, Pattern::from_json(*it, path + ".pattern"));
  DS_ASSIGN_OR_RETURN(std::string behavior_name, get_string(j, "behavior", path));
  DS_ASSIGN_OR_RETURN(Behavior behavior, parse_behavior(behavior_name, path));
  DS_ASSIGN_OR_RETURN(bool invert, get_bool_or(j, "invert", path, false));
  return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(pattern), behavior, invert));
}

Result<std::unique_ptr<PreTokenizer>> make_byte_level(const Json& j, const std::string& path) {
  DS_ASSIGN_OR_RETURN(bool prefix, get_bool_or(j, "add_prefix_space", path, true));
  DS_ASSIGN_OR_RETURN(bool use_regex, get_bool_or(j, "use_regex", path, true));
  std::optional<Pattern> split;
  if (use_regex) {
    DS_ASSIGN_OR_RETURN(split, Pattern::from_json(Json{{"Regex", kGpt2Pattern}}, path));
  }
  return std::unique_ptr<PreTokenizer>(new ByteLevelPreTokenizer(prefix, std::move(split)));
}

Result<std::unique_ptr<PreTokenizer>> make_metaspace(const Json& j, const std::string& path) {
  DS_ASSIGN_OR_RETURN(std::string rep, get_string_or(j, "replacement", path, "\xE2\x96\x81"));
  if (rep.empty()) return invalid_argument(path + ".replacement: must not be empty");
  DS_ASSIGN_OR_RETURN(bool legacy_prefix, get_bool_or(j, "add_prefix_space", path, true));
  DS_ASSIGN_OR_RETURN(std::string scheme, get_string_or(j, "prepend_scheme", path, legacy_prefix ? "always" : "never"));
  DS_ASSIGN_OR_RETURN(bool split, get_bool_or(j, "split", path, true));
  Prepend p = Prepend::kAlways;
  if (scheme == "first") p = Prepend::kFirst;
  else if (scheme == "never") p = Prepend::kNever;
  else if (scheme != "always") return invalid_argument(path + ".prepend_scheme: unknown value '" + scheme + "'");
  return std::unique_ptr<PreTokenizer>(new MetaspacePreTokenizer(std::move(rep), p, split));
}

Result<std::unique_ptr<PreTokenizer>> make_sequence(const Json& j, const std::string& path, int depth) {
  DS_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "pretokenizers", path));
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  for (size_t i = 0; i < arr->size(); ++i) {
    DS_ASSIGN_OR_RETURN(auto part, make_pre_tokenizer((*arr)[i], path + ".pretokenizers[" + std::to_string(i) + "]", depth + 1));
    if (part) parts.push_back(std::move(part));
  }
  return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(parts)));
}

}  // namespace

Result<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const Json& j, const std::string& path, int depth) {
  if (j.is_null()) return std::unique_ptr<PreTokenizer>();
  if (depth > kMaxNesting) return invalid_argument(path + ": nested too deeply");
  DS_RETURN_IF_ERROR(expect_object(j, path));
  DS_ASSIGN_OR_RETURN(std::string type, get_string(j, "type", path));
  if (type == "Split") return make_split(j, path);
  if (type == "ByteLevel") return make_byte_level(j, path);
  if (type == "Metaspace") return make_metaspace(j, path);
  if (type == "Sequence") return make_sequence(j, path, depth);
  return unsupported(path + ": pre-tokenizer type '" + type + "' is not supported");
}

}  // namespace ds::tok
