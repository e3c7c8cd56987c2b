#include "model/generation_config.h"

#include <gtest/gtest.h>

#include "model_test_util.h"

namespace ds {
namespace {

using test::TempDir;

TEST(GenerationConfig, MissingFileGivesEmptyDefaults) {
  TempDir dir;
  auto g = load_generation_config(dir.path());
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_FALSE(g->temperature.has_value());
  EXPECT_FALSE(g->do_sample.has_value());
  EXPECT_TRUE(g->eos_token_ids.empty());
}

TEST(GenerationConfig, DeepSeekR1Distill) {
  TempDir dir;
  test::write_file(dir.path() / "generation_config.json",
                   R"({"_from_model_config": true, "bos_token_id": 151646, "eos_token_id": 151643,
                       "do_sample": true, "temperature": 0.6, "top_p": 0.95, "transformers_version": "4.39.3"})");
  auto g = load_generation_config(dir.path());
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_DOUBLE_EQ(*g->temperature, 0.6);
  EXPECT_DOUBLE_EQ(*g->top_p, 0.95);
  EXPECT_TRUE(*g->do_sample);
  EXPECT_EQ(*g->bos_token_id, 151646);
  EXPECT_EQ(g->eos_token_ids, std::vector<int64_t>{151643});
  EXPECT_FALSE(g->top_k.has_value());
}

TEST(GenerationConfig, AllFieldsAndEosList) {
  TempDir dir;
  test::write_file(dir.path() / "generation_config.json",
                   R"({"eos_token_id": [128001, 128009], "top_k": 40, "repetition_penalty": 1.1,
                       "max_new_tokens": 256, "do_sample": false, "temperature": 1})");
  auto g = load_generation_config(dir.path());
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->eos_token_ids, (std::vector<int64_t>{128001, 128009}));
  EXPECT_EQ(*g->top_k, 40);
  EXPECT_DOUBLE_EQ(*g->repetition_penalty, 1.1);
  EXPECT_EQ(*g->max_new_tokens, 256);
  EXPECT_FALSE(*g->do_sample);
  EXPECT_DOUBLE_EQ(*g->temperature, 1.0);
}

TEST(GenerationConfig, Stories260k) {
  auto g = load_generation_config(DS_SHARED_DIR "/models/stories260k");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_DOUBLE_EQ(*g->temperature, 0.8);
  EXPECT_DOUBLE_EQ(*g->top_p, 0.9);
  EXPECT_EQ(g->eos_token_ids, std::vector<int64_t>{2});
}

TEST(GenerationConfig, Errors) {
  TempDir dir;
  const auto path = dir.path() / "generation_config.json";
  const std::pair<const char*, const char*> cases[] = {
      {"{oops", "generation_config.json"},
      {"[]", "object"},
      {R"({"temperature": "hot"})", "temperature"},
      {R"({"top_k": 1.5})", "top_k"},
      {R"({"eos_token_id": ["a"]})", "eos_token_id"},
      {R"({"do_sample": 1})", "do_sample"},
      {R"({"top_p": 1.5})", "top_p"},
      {R"({"temperature": -1})", "temperature"},
  };
  for (const auto& [text, field] : cases) {
    test::write_file(path, text);
    auto g = load_generation_config(dir.path());
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_NE(g.status().message().find("generation_config.json"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find(field), std::string::npos) << g.status().message();
  }
}

}  // namespace
}  // namespace ds
