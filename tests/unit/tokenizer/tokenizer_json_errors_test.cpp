// Malformed tokenizer.json / tokenizer_config.json: every case returns an error that names the
// file, never a crash.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/tokenizer.h"

namespace ds {
namespace {

constexpr const char* kSource = "/models/x/tokenizer.json";

// A tiny valid byte-level-free BPE tokenizer that the cases below break one field at a time.
std::string minimal(const std::string& model) {
  return R"({"version": "1.0", "added_tokens": [{"id": 3, "content": "<s>", "special": true}],
             "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
             "model": )" + model + "}";
}
const std::string kGoodModel = R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

Status load_error(const std::string& json, const std::string& config = "") {
  auto r = Tokenizer::from_json_text(json, config, kSource);
  if (r.ok()) return Status::ok();
  return r.status();
}

void expect_error(const std::string& json, const std::string& needle, const std::string& config = "") {
  const Status s = load_error(json, config);
  ASSERT_FALSE(s.is_ok()) << json;
  EXPECT_NE(s.message().find("tokenizer"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
}

TEST(TokenizerJsonErrors, MinimalLoadsAndEncodes) {
  auto r = Tokenizer::from_json_text(minimal(kGoodModel), "", kSource);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->encode("ab<s>a", false), (std::vector<int32_t>{2, 3, 0}));
  EXPECT_EQ((*r)->vocab_size(), 4);
}

TEST(TokenizerJsonErrors, BadJson) {
  expect_error("{\"model\": ", "parse error");
  expect_error("", "parse error");
  expect_error("[1, 2", "parse error");
  // 100,000 nested arrays in an unknown field (a copy of such a value recursed once per level).
  expect_error(minimal(kGoodModel).insert(1, "\"x\": " + std::string(100000, '[') + std::string(100000, ']') + ", "),
               "nested deeper than 128 levels");
  expect_error(minimal(kGoodModel), "nested deeper than 128 levels",
               "{\"chat_template\": \"x\", \"y\": " + std::string(1000, '{') + std::string(1000, '}') + "}");
}

TEST(TokenizerJsonErrors, MissingOrWrongModel) {
  expect_error(R"({"version": "1.0"})", "model missing");
  expect_error(minimal("[]"), "model: expected an object");
  expect_error(minimal(R"({"type": "Unigram", "vocab": []})"), "Unigram");
  expect_error(minimal(R"({"type": "BPE", "merges": []})"), "model.vocab missing");
  expect_error(minimal(R"({"type": "BPE", "vocab": [1, 2], "merges": []})"), "model.vocab");
}

TEST(TokenizerJsonErrors, NonIntegerVocab) {
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": "zero"}, "merges": []})"), "model.vocab[\"a\"]");
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": 1.5}, "merges": []})"), "not an integer");
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": [0]}, "merges": []})"), "not an integer");
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": -1}, "merges": []})"), "out of range");
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": 99999999999}, "merges": []})"), "out of range");
}

TEST(TokenizerJsonErrors, BadMerges) {
  const std::string v = R"("vocab": {"a": 0, "b": 1, "ab": 2})";
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": ["ab"]})"), "model.merges[0]");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": ["a b c"]})"), "exactly one space");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": ["a x"]})"), "not in the vocab");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": [["a"]]})"), "model.merges[0]");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": [["a", 1]]})"), "model.merges[0]");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": [7]})"), "model.merges[0]");
  expect_error(minimal(R"({"type": "BPE", )" + v + R"(, "merges": "a b"})"), "model.merges");
  expect_error(minimal(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"), "merged token");
}

TEST(TokenizerJsonErrors, MergesAsPairsLoad) {
  auto r = Tokenizer::from_json_text(minimal(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]})"), "", kSource);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->encode("ab", false), (std::vector<int32_t>{2}));
}

TEST(TokenizerJsonErrors, BadComponents) {
  std::string j = minimal(kGoodModel);
  auto with = [&](const std::string& field, const std::string& value) {
    std::string s = j;
    const std::string key = "\"" + field + "\": null";
    s.replace(s.find(key), key.size(), "\"" + field + "\": " + value);
    return s;
  };
  expect_error(with("normalizer", R"({"type": "Nope"})"), "normalizer");
  expect_error(with("normalizer", R"({"type": "Replace", "pattern": {"Regex": "("}, "content": ""})"), "normalizer.pattern.Regex");
  expect_error(with("pre_tokenizer", R"({"type": "Split", "pattern": {"Regex": "[a"}, "behavior": "Isolated"})"), "pre_tokenizer");
  expect_error(with("pre_tokenizer", R"({"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"})"), "behavior");
  expect_error(with("post_processor", R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}}], "special_tokens": {}})"), "<x>");
  expect_error(with("decoder", R"({"type": "WordPieceX"})"), "decoder");
  expect_error(with("decoder", R"("ByteLevel")"), "decoder: expected an object");
}

TEST(TokenizerJsonErrors, BadAddedTokens) {
  const std::string base = R"({"model": )" + kGoodModel + R"(, "added_tokens": )";
  expect_error(base + R"({}})", "added_tokens: expected an array");
  expect_error(base + R"([{"content": "<s>"}]})", "added_tokens[0].id");
  expect_error(base + R"([{"id": 5}]})", "added_tokens[0].content missing");
}

TEST(TokenizerJsonErrors, DeepNestingIsRejected) {
  std::string norm = R"({"type": "NFC"})";
  for (int i = 0; i < 40; ++i) norm = R"({"type": "Sequence", "normalizers": [)" + norm + "]}";
  std::string j = minimal(kGoodModel);
  const std::string key = "\"normalizer\": null";
  j.replace(j.find(key), key.size(), "\"normalizer\": " + norm);
  expect_error(j, "nested too deeply");
}

TEST(TokenizerJsonErrors, BadConfig) {
  expect_error(minimal(kGoodModel), "tokenizer_config.json", "{not json");
  expect_error(minimal(kGoodModel), "bos_token", R"({"bos_token": 5})");
}

TEST(TokenizerJsonErrors, MissingDirectory) {
  auto r = Tokenizer::load("/nonexistent/dir");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos);
}

}  // namespace
}  // namespace ds
