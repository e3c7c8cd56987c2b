#include "tokenizer/normalizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <vector>

#include "tokenizer/pattern.h"
#include "tokenizer/utf8.h"

namespace ds::tok {
namespace {

bool is_ascii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* n) : n_(n) {}
  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;  // ASCII is invariant under every normalization form
    UErrorCode err = U_ZERO_ERROR;
    const icu::UnicodeString src = icu::UnicodeString::fromUTF8(text);
    if (n_->isNormalized(src, err) && U_SUCCESS(err)) return;
    err = U_ZERO_ERROR;
    const icu::UnicodeString dst = n_->normalize(src, err);
    if (U_FAILURE(err)) return;
    text.clear();
    dst.toUTF8String(text);
  }

 private:
  const icu::Normalizer2* n_;  // owned by ICU, immutable, thread-safe
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    icu::UnicodeString s = icu::UnicodeString::fromUTF8(text);
    s.toLower(icu::Locale::getRoot());
    text.clear();
    s.toUTF8String(text);
  }
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t b = 0, e = text.size();
    while (left_ && b < e) {
      const size_t n = utf8_valid_len(text, b);
      if (n == 0 || !is_unicode_whitespace(utf8_decode_at(text, b, n))) break;
      b += n;
    }
    while (right_ && e > b) {
      const size_t s = utf8_floor_boundary(text, e - 1);
      const size_t n = utf8_valid_len(text, s);
      if (n == 0 || !is_unicode_whitespace(utf8_decode_at(text, s, n))) break;
      e = s;
    }
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

Result<std::unique_ptr<Normalizer>> make_icu(const std::string& type, const std::string& path) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  if (type == "NFC") n = icu::Normalizer2::getNFCInstance(err);
  if (type == "NFD") n = icu::Normalizer2::getNFDInstance(err);
  if (type == "NFKC") n = icu::Normalizer2::getNFKCInstance(err);
  if (type == "NFKD") n = icu::Normalizer2::getNFKDInstance(err);
  if (n == nullptr || U_FAILURE(err)) return io_error(path + ": ICU " + type + " data unavailable");
  return std::unique_ptr<Normalizer>(new UnicodeNormalizer(n));
}

Result<std::unique_ptr<Normalizer>> make_sequence(const Json& j, const std::string& path, int depth) {
  DS_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "normalizers", path));
  std::vector<std::unique_ptr<Normalizer>> parts;
  for (size_t i = 0; i < arr->size(); ++i) {
    DS_ASSIGN_OR_RETURN(auto part, make_normalizer((*arr)[i], path + ".normalizers[" + std::to_string(i) + "]", depth + 1));
    if (part) parts.push_back(std::move(part));
  }
  return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(parts)));
}

}  // namespace

Result<std::unique_ptr<Normalizer>> make_normalizer(const Json& j, const std::string& path, int depth) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  if (depth > kMaxNesting) return invalid_argument(path + ": nested too deeply");
  DS_RETURN_IF_ERROR(expect_object(j, path));
  DS_ASSIGN_OR_RETURN(std::string type, get_string(j, "type", path));
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return make_icu(type, path);
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  if (type == "Sequence") return make_sequence(j, path, depth);
  if (type == "Prepend") {
    DS_ASSIGN_OR_RETURN(std::string p, get_string(j, "prepend", path));
    return std::unique_ptr<Normalizer>(new PrependNormalizer(std::move(p)));
  }
  if (type == "Replace") {
    auto it = j.find("pattern");
    if (it == j.end()) return invalid_argument(path + ".pattern missing");
    DS_ASSIGN_OR_RETURN(Pattern p, Pattern::from_json(*it, path + ".pattern"));
    DS_ASSIGN_OR_RETURN(std::string content, get_string(j, "content", path));
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(p), std::move(content)));
  }
  if (type == "Strip") {
    DS_ASSIGN_OR_RETURN(bool left, get_bool_or(j, "strip_left", path, true));
    DS_ASSIGN_OR_RETURN(bool right, get_bool_or(j, "strip_right", path, true));
    return std::unique_ptr<Normalizer>(new StripNormalizer(left, right));
  }
  return unsupported(path + ": normalizer type '" + type + "' is not supported");
}

}  // namespace ds::tok
