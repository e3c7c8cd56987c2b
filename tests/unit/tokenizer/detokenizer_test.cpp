// IncrementalDetokenizer: deltas concatenate to decode(all ids) and are always valid UTF-8,
// including multi-byte characters split across byte-level and byte-fallback tokens.
#include <gtest/gtest.h>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace ds {
namespace {

using Ids = std::vector<int32_t>;

// Streams ids one by one; checks every delta and returns the concatenation.
std::string stream(const Tokenizer& tok, const Ids& ids, bool skip_special) {
  IncrementalDetokenizer detok(tok, skip_special);
  std::string all;
  for (int32_t id : ids) {
    const std::string delta = detok.push(id);
    EXPECT_TRUE(tok::utf8_is_valid(delta)) << "invalid UTF-8 delta after id " << id;
    all += delta;
  }
  const std::string tail = detok.flush();
  EXPECT_TRUE(tok::utf8_is_valid(tail));
  return all + tail;
}

void expect_stream_matches(const std::filesystem::path& dir, const std::string& text) {
  const Tokenizer* tok = test::load_cached(dir);
  ASSERT_NE(tok, nullptr);
  for (bool add_special : {false, true}) {
    const Ids ids = tok->encode(text, add_special);
    for (bool skip : {false, true}) {
      EXPECT_EQ(stream(*tok, ids, skip), tok->decode(ids, skip)) << dir << " text=" << text << " skip=" << skip;
    }
  }
}

const char* const kTexts[] = {
    "Hello world",
    "你好，世界！机器学习",
    "👨‍👩‍👧‍👦 family 👍🏽 and 🇯🇵 flags",
    "café cafe\u0301 naïve",
    "مرحبا שלום नमस्ते สวัสดี",
    "<｜User｜>hi<｜Assistant｜><think>\nok</think> done",
    "<s>Once upon a time</s>",
    "  spaces   and\n\nnewlines\t",
    "𠀀𠀁 rare CJK 龘",
};

TEST(Detokenizer, QwenStreamsMatchDecode) {
  for (const char* t : kTexts) expect_stream_matches(test::qwen_dir(), t);
}

TEST(Detokenizer, Llama3StreamsMatchDecode) {
  for (const char* t : kTexts) expect_stream_matches(test::llama3_dir(), t);
}

TEST(Detokenizer, StoriesByteFallbackStreamsMatchDecode) {
  for (const char* t : kTexts) expect_stream_matches(test::stories_dir(), t);
}

TEST(Detokenizer, HoldsBackIncompleteCharacter) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode("你", false);  // ▁ <0xE4> <0xBD> <0xA0>
  ASSERT_EQ(ids.size(), 4u);
  IncrementalDetokenizer detok(*tok, false);
  EXPECT_EQ(detok.push(ids[0]), "");  // a lone "▁" decodes to "" (Strip removes the leading space)
  EXPECT_EQ(detok.push(ids[1]), "");
  EXPECT_EQ(detok.push(ids[2]), "");
  EXPECT_EQ(detok.push(ids[3]), "你");
  EXPECT_EQ(detok.flush(), "");
}

TEST(Detokenizer, IncompleteTailComesOutOnFlush) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode("a你", false);
  IncrementalDetokenizer detok(*tok, false);
  std::string out;
  for (size_t i = 0; i + 1 < ids.size(); ++i) out += detok.push(ids[i]);  // drop the last byte
  EXPECT_EQ(out, "a");
  const std::string tail = detok.flush();
  EXPECT_TRUE(tok::utf8_is_valid(tail));
  EXPECT_EQ(out + tail, tok->decode(Ids(ids.begin(), ids.end() - 1), false));
}

TEST(Detokenizer, PromptContextKeepsLeadingSpace) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  const Ids prompt = tok->encode("Once upon a", true);
  const auto time_id = tok->token_to_id("▁time");
  ASSERT_TRUE(time_id.has_value());
  const Ids gen{*time_id};
  IncrementalDetokenizer detok(*tok, true, prompt);
  std::string out;
  for (int32_t id : gen) out += detok.push(id);
  out += detok.flush();
  EXPECT_EQ(out, " time");
}

}  // namespace
}  // namespace ds
