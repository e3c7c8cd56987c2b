// json_nesting_within: the depth guard run on request bodies and prompt-file lines before parsing.
#include "common/json_nesting.h"

#include <gtest/gtest.h>

#include <string>

namespace ds {
namespace {

std::string nested(int depth, char open = '[', char close = ']') {
  return std::string(size_t(depth), open) + std::string(size_t(depth), close);
}

TEST(JsonNesting, CountsArraysAndObjectsUpToTheLimit) {
  EXPECT_TRUE(json_nesting_within("", 0));
  EXPECT_TRUE(json_nesting_within("42", 0));
  EXPECT_FALSE(json_nesting_within("[]", 0));
  EXPECT_TRUE(json_nesting_within(nested(kMaxJsonNesting)));
  EXPECT_FALSE(json_nesting_within(nested(kMaxJsonNesting + 1)));
  EXPECT_FALSE(json_nesting_within(nested(200000)));
  // Mixed objects and arrays count alike; siblings do not add up.
  EXPECT_TRUE(json_nesting_within(R"({"a": [{"b": [1]}], "c": [[2]], "d": {"e": {}}})", 4));
  EXPECT_FALSE(json_nesting_within(R"({"a": [{"b": [1]}], "c": [[2]], "d": {"e": {}}})", 3));
  std::string wide = "[";
  for (int i = 0; i < 10000; ++i) wide += "[1],";
  wide += "[]]";
  EXPECT_TRUE(json_nesting_within(wide, 2));
}

TEST(JsonNesting, BracketsInStringsDoNotCount) {
  const std::string in_string = "{\"prompt\": \"" + nested(1000) + "\"}";
  EXPECT_TRUE(json_nesting_within(in_string, 1));
  // An escaped quote does not end the string; an escaped backslash before a quote does.
  EXPECT_TRUE(json_nesting_within(R"({"p": "a\"[[[[\"b"})", 1));
  EXPECT_FALSE(json_nesting_within(R"({"p": "a\\", "q": [[[]]]})", 3));
  EXPECT_TRUE(json_nesting_within(R"({"p": "a\\", "q": [[[]]]})", 4));
}

TEST(JsonNesting, MalformedTextIsJudgedOnDepthOnly) {
  EXPECT_TRUE(json_nesting_within("]]]}}}", 1));         // stray closers never go below zero
  EXPECT_TRUE(json_nesting_within("[[[", 3));            // unclosed: the parser reports it
  EXPECT_TRUE(json_nesting_within("\"unterminated [[[", 0));
}

}  // namespace
}  // namespace ds
