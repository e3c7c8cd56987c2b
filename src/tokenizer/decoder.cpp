#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"
#include "tokenizer/utf8.h"

namespace ds::tok {
namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      // A token with a character outside the byte alphabet (an added token such as <｜User｜>)
      // contributes its own UTF-8 bytes.
      if (!byte_level_to_bytes(t, bytes)) bytes += t;
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// "<0xNN>" -> the byte, or -1.
int parse_byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // consecutive byte tokens
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (utf8_is_valid(pending)) {
        out.push_back(pending);
      } else {
        std::string rep;
        for (size_t i = 0; i < pending_count; ++i) rep += kReplacementChar;
        out.push_back(rep);
      }
      pending.clear();
      pending_count = 0;
    };
    for (auto& t : tokens) {
      const int b = parse_byte_token(t);
      if (b >= 0) {
        pending.push_back(static_cast<char>(b));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      std::string_view v = t;
      for (size_t i = 0; i < start_ && v.substr(0, content_.size()) == content_; ++i) v.remove_prefix(content_.size());
      for (size_t i = 0; i < stop_ && v.size() >= content_.size() &&
                         v.substr(v.size() - content_.size()) == content_; ++i) {
        v.remove_suffix(content_.size());
      }
      t = std::string(v);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first) : rep_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const Pattern p = Pattern::literal(rep_);
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = p.replace_all(tokens[i], i == 0 && strip_first_ ? "" : " ");
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

Result<std::unique_ptr<Decoder>> make_strip(const Json& j, const std::string& path) {
  DS_ASSIGN_OR_RETURN(std::string content, get_string_or(j, "content", path, " "));
  DS_ASSIGN_OR_RETURN(int64_t start, get_int_or(j, "start", path, 0));
  DS_ASSIGN_OR_RETURN(int64_t stop, get_int_or(j, "stop", path, 0));
  if (start < 0 || stop < 0) return invalid_argument(path + ": start/stop must be >= 0");
  // HF strips one character; a multi-character content would never match there.
  size_t n = content.empty() ? 0 : utf8_valid_len(content, 0);
  if (n != content.size()) return invalid_argument(path + ".content: expected one character");
  return std::unique_ptr<Decoder>(new StripDecoder(content, static_cast<size_t>(start), static_cast<size_t>(stop)));
}

Result<std::unique_ptr<Decoder>> make_metaspace(const Json& j, const std::string& path) {
  DS_ASSIGN_OR_RETURN(std::string rep, get_string_or(j, "replacement", path, "\xE2\x96\x81"));
  if (rep.empty()) return invalid_argument(path + ".replacement: must not be empty");
  DS_ASSIGN_OR_RETURN(bool legacy_prefix, get_bool_or(j, "add_prefix_space", path, true));
  DS_ASSIGN_OR_RETURN(std::string scheme, get_string_or(j, "prepend_scheme", path, legacy_prefix ? "always" : "never"));
  return std::unique_ptr<Decoder>(new MetaspaceDecoder(std::move(rep), scheme != "never"));
}

Result<std::unique_ptr<Decoder>> make_sequence(const Json& j, const std::string& path, int depth) {
  DS_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "decoders", path));
  std::vector<std::unique_ptr<Decoder>> parts;
  for (size_t i = 0; i < arr->size(); ++i) {
    DS_ASSIGN_OR_RETURN(auto d, make_decoder((*arr)[i], path + ".decoders[" + std::to_string(i) + "]", depth + 1));
    if (d) parts.push_back(std::move(d));
  }
  return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(parts)));
}

}  // namespace

Result<std::unique_ptr<Decoder>> make_decoder(const Json& j, const std::string& path, int depth) {
  if (j.is_null()) return std::unique_ptr<Decoder>();
  if (depth > kMaxNesting) return invalid_argument(path + ": nested too deeply");
  DS_RETURN_IF_ERROR(expect_object(j, path));
  DS_ASSIGN_OR_RETURN(std::string type, get_string(j, "type", path));
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") return make_strip(j, path);
  if (type == "Metaspace") return make_metaspace(j, path);
  if (type == "Sequence") return make_sequence(j, path, depth);
  if (type == "Replace") {
    auto it = j.find("pattern");
    if (it == j.end()) return invalid_argument(path + ".pattern missing");
    DS_ASSIGN_OR_RETURN(Pattern p, Pattern::from_json(*it, path + ".pattern"));
    DS_ASSIGN_OR_RETURN(std::string content, get_string(j, "content", path));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(p), std::move(content)));
  }
  return unsupported(path + ": decoder type '" + type + "' is not supported");
}

}  // namespace ds::tok
