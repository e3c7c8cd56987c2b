// Hand-checked expectations for the three reference tokenizers (independent of the goldens).
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "tokenizer_test_util.h"

namespace ds {
namespace {

using Ids = std::vector<int32_t>;

TEST(TokenizerBasic, StoriesOnceUponATime) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Once upon a time", true), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->encode("Once upon a time", false), (Ids{403, 407, 261, 378}));
  const Ids ids{1, 403, 407, 261, 378};
  EXPECT_EQ(tok->decode(ids, true), "Once upon a time");
  EXPECT_EQ(tok->decode(ids, false), "<s> Once upon a time");
  EXPECT_EQ(tok->bos_token_id(), 1);
  EXPECT_EQ(tok->eos_token_id(), 2);
  EXPECT_EQ(tok->vocab_size(), 512);
}

TEST(TokenizerBasic, StoriesGoldenStoryRoundTrips) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  const std::string text =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One "
      "day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";
  const Ids ids = tok->encode(text, true);
  EXPECT_EQ(tok->decode(ids, true), text);
  // The model golden's first ids come from the same tokenizer.
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 5), (Ids{1, 403, 407, 261, 378}));
}

TEST(TokenizerBasic, StoriesByteFallback) {
  const Tokenizer* tok = test::load_cached(test::stories_dir());
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode("你", false);  // not in a 512-token vocab: three <0xNN> tokens
  ASSERT_EQ(ids.size(), 4u);                 // "▁" + 3 bytes
  EXPECT_EQ(tok->id_to_token(ids[1]), "<0xE4>");
  EXPECT_EQ(tok->decode(ids, false), "你");
}

TEST(TokenizerBasic, QwenHelloWorld) {
  const Tokenizer* tok = test::load_cached(test::qwen_dir());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world", false), (Ids{9707, 1879}));
  EXPECT_EQ(tok->encode("Hello world", true), (Ids{151646, 9707, 1879}));
  EXPECT_EQ(tok->bos_token_id(), 151646);
  EXPECT_EQ(tok->eos_token_id(), 151643);
  EXPECT_FALSE(tok->chat_template().empty());
}

TEST(TokenizerBasic, QwenAddedTokensMatchInText) {
  const Tokenizer* tok = test::load_cached(test::qwen_dir());
  ASSERT_NE(tok, nullptr);
  const std::string text = "<｜User｜>hi<｜Assistant｜><think>\nok</think>";
  const Ids ids = tok->encode(text, false);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(ids.back(), 151649);
  EXPECT_EQ(tok->decode(ids, false), text);
  EXPECT_EQ(tok->decode(ids, true), text);  // special=false tokens survive skip_special_tokens
  const Ids with_bos{151646, 9707};
  EXPECT_EQ(tok->decode(with_bos, false), "<｜begin▁of▁sentence｜>Hello");
  EXPECT_EQ(tok->decode(with_bos, true), "Hello");
  EXPECT_FALSE(tok->is_special(151644));
  EXPECT_TRUE(tok->is_special(151646));
}

TEST(TokenizerBasic, Llama3BeginOfText) {
  const Tokenizer* tok = test::load_cached(test::llama3_dir());
  ASSERT_NE(tok, nullptr);
  // This tokenizer.json has a ByteLevel post-processor, so HF adds no BOS for it.
  EXPECT_EQ(tok->encode("<|begin_of_text|>x", false), (Ids{128000, 87}));
  EXPECT_EQ(tok->encode("Hello world", false), (Ids{9906, 1917}));
  EXPECT_EQ(tok->bos_token_id(), 128000);
}

TEST(TokenizerBasic, Llama3IgnoreMergesUsesWholeWord) {
  const Tokenizer* tok = test::load_cached(test::llama3_dir());
  ASSERT_NE(tok, nullptr);
  // Every id encodes back to itself when its token is a whole pre-token.
  for (int32_t id : {1917, 9906, 220, 256, 1602}) {
    const std::string text = tok->decode(std::vector<int32_t>{id}, false);
    const Ids ids = tok->encode(text, false);
    EXPECT_EQ(tok->decode(ids, false), text);
  }
}

TEST(TokenizerBasic, EmptyString) {
  for (auto dir : {test::qwen_dir(), test::llama3_dir(), test::stories_dir()}) {
    const Tokenizer* tok = test::load_cached(dir);
    ASSERT_NE(tok, nullptr);
    EXPECT_TRUE(tok->encode("", false).empty()) << dir;
    EXPECT_EQ(tok->decode(std::vector<int32_t>{}, false), "");
  }
}

TEST(TokenizerBasic, InvalidUtf8InputDoesNotCrash) {
  const Tokenizer* tok = test::load_cached(test::qwen_dir());
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode(std::string("a\xff\xfe b\xe4", 6), false);
  EXPECT_EQ(tok->decode(ids, false), "a\xEF\xBF\xBD\xEF\xBF\xBD b\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

// BPE over one huge pre-token must stay O(n log n): 200k characters in well under a second.
TEST(TokenizerBasic, HugeWordIsFast) {
  const Tokenizer* tok = test::load_cached(test::qwen_dir());
  ASSERT_NE(tok, nullptr);
  std::string word;
  for (int i = 0; i < 20000; ++i) word += "abcdefghij";
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok->encode(word, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok->decode(ids, false), word);
  EXPECT_LT(s, 2.0) << "encode of a 200k-character word took " << s << " s";
}

}  // namespace
}  // namespace ds
