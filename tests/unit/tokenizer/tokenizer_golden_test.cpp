// Compares encode/decode with goldens written by Hugging Face `tokenizers`
// (tests/data/tokenizer/make_goldens.py) for every string of tests/data/tokenizer/corpus.json.
// A missing golden file is a failure, not a skip. DS_TOKENIZER_GOLDENS=DIR reads them from DIR.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace ds {
namespace {

using Ids = std::vector<int32_t>;

std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("DS_TOKENIZER_GOLDENS")) return env;
  return std::filesystem::path(DS_SOURCE_DIR) / "tests/data/tokenizer";
}

std::string show(const Ids& ids) {
  std::ostringstream os;
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? "," : "[") << ids[i];
  os << "]";
  return ids.empty() ? "[]" : os.str();
}

// Checks one corpus case; returns the number of mismatches.
int check_case(const Tokenizer& tok, const nlohmann::json& c) {
  int bad = 0;
  const std::string text = c.at("text").get<std::string>();
  const Ids ids = c.at("ids").get<Ids>();
  const Ids ids_special = c.at("ids_special").get<Ids>();
  auto expect_ids = [&](const Ids& got, const Ids& want, const char* what) {
    if (got == want) return;
    ++bad;
    ADD_FAILURE() << what << " for " << nlohmann::json(text).dump() << "\n  got  " << show(got) << "\n  want " << show(want);
  };
  auto expect_text = [&](const std::string& got, const nlohmann::json& want, const char* what) {
    if (want.is_null() || got == want.get<std::string>()) return;
    ++bad;
    ADD_FAILURE() << what << " for " << nlohmann::json(text).dump() << "\n  got  " << nlohmann::json(got).dump()
                  << "\n  want " << want.dump();
  };
  const Ids got = tok.encode(text, false);
  expect_ids(got, ids, "encode(add_special_tokens=false)");
  expect_ids(tok.encode(text, true), ids_special, "encode(add_special_tokens=true)");
  expect_text(tok.decode(ids, false), c.at("decode"), "decode(ids, skip_special=false)");
  expect_text(tok.decode(ids, true), c.at("decode_skip"), "decode(ids, skip_special=true)");
  expect_text(tok.decode(ids_special, false), c.value("decode_special", nlohmann::json()), "decode(ids_special, false)");
  expect_text(tok.decode(ids_special, true), c.value("decode_special_skip", nlohmann::json()), "decode(ids_special, true)");
  if (c.at("decode") == text && tok.decode(got, false) != text) {
    ++bad;
    ADD_FAILURE() << "decode(encode(s)) != s for " << nlohmann::json(text).dump();
  }
  return bad;
}

void run_goldens(const std::string& name, const std::filesystem::path& tokenizer_dir) {
  const auto path = golden_dir() / (name + ".json");
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path << " is missing: run tests/data/tokenizer/make_goldens.py (see its docstring)";
  nlohmann::json goldens;
  ASSERT_NO_THROW(goldens = nlohmann::json::parse(in)) << path;
  const Tokenizer* tok = test::load_cached(tokenizer_dir);
  ASSERT_NE(tok, nullptr);
  const auto& cases = goldens.at("cases");
  ASSERT_GE(cases.size(), 220u) << path;
  int bad_cases = 0;
  for (const auto& c : cases) bad_cases += check_case(*tok, c) > 0;
  EXPECT_EQ(bad_cases, 0) << name << ": " << bad_cases << " of " << cases.size() << " cases differ (tokenizers "
                          << goldens.value("tokenizers_version", "?") << ")";
}

TEST(TokenizerGolden, Qwen) { run_goldens("qwen", test::qwen_dir()); }
TEST(TokenizerGolden, Llama3) { run_goldens("llama3", test::llama3_dir()); }
TEST(TokenizerGolden, Stories260k) { run_goldens("stories260k", test::stories_dir()); }

TEST(TokenizerGolden, CorpusCoversEnoughStrings) {
  std::ifstream in(std::filesystem::path(DS_SOURCE_DIR) / "tests/data/tokenizer/corpus.json");
  ASSERT_TRUE(in.good());
  const auto corpus = nlohmann::json::parse(in);
  EXPECT_GE(corpus.size(), 220u);
}

}  // namespace
}  // namespace ds
