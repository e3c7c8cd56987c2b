// Unsupported constructs and malformed templates: clear errors naming the construct, never a crash
// and never silently wrong output.
#include <gtest/gtest.h>

#include "template_test_util.h"

namespace ds {
namespace {

using nlohmann::json;

void expect_parse_error(const std::string& source, const std::string& needle, ErrorCode code) {
  SCOPED_TRACE(source);
  auto t = ChatTemplate::parse(source);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), code) << t.status().message();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
}

void expect_render_error(const std::string& source, const std::string& needle, const json& ctx = json::object()) {
  SCOPED_TRACE(source);
  auto t = ChatTemplate::parse(source);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto out = test::render_source(source, ctx);
  ASSERT_FALSE(out.ok()) << "rendered: " << out.value();
  EXPECT_NE(out.status().message().find(needle), std::string::npos) << out.status().message();
}

TEST(ChatTemplateErrors, UnsupportedTagsAreParseErrors) {
  expect_parse_error("{% include 'x.j2' %}", "tag 'include'", ErrorCode::kUnsupported);
  expect_parse_error("{% filter upper %}x{% endfilter %}", "tag 'filter'", ErrorCode::kUnsupported);
  expect_parse_error("{% extends 'base' %}", "tag 'extends'", ErrorCode::kUnsupported);
  expect_parse_error("{% import 'm' as m %}", "tag 'import'", ErrorCode::kUnsupported);
  expect_parse_error("{% call foo() %}x{% endcall %}", "tag 'call'", ErrorCode::kUnsupported);
  expect_parse_error("{% do xs.append(1) %}", "tag 'do'", ErrorCode::kUnsupported);
  expect_parse_error("{% for x in xs recursive %}{% endfor %}", "recursive", ErrorCode::kUnsupported);
  expect_parse_error("{% frobnicate %}", "unknown tag 'frobnicate'", ErrorCode::kInvalidArgument);
}

TEST(ChatTemplateErrors, UnknownFiltersAndTestsAreParseErrors) {
  expect_parse_error("{{ x | foo }}", "filter 'foo'", ErrorCode::kUnsupported);
  expect_parse_error("{{ x | urlencode }}", "filter 'urlencode'", ErrorCode::kUnsupported);
  expect_parse_error("{% if x is prime %}{% endif %}", "test 'prime'", ErrorCode::kUnsupported);
  // A filter named by a string argument is only known at run time.
  expect_render_error("{{ ['a'] | map('foo') | list }}", "filter 'foo'");
}

TEST(ChatTemplateErrors, MalformedTemplates) {
  expect_parse_error("{% if x %}never closed", "unclosed 'if'", ErrorCode::kInvalidArgument);
  expect_parse_error("{% for x in xs %}", "expected 'endfor'", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ x ", "unclosed tag", ErrorCode::kInvalidArgument);
  expect_parse_error("{% if x ", "unclosed tag", ErrorCode::kInvalidArgument);
  expect_parse_error("{# comment", "unclosed comment", ErrorCode::kInvalidArgument);
  expect_parse_error("{% endif %}", "unexpected 'endif'", ErrorCode::kInvalidArgument);
  expect_parse_error("{% if x %}{% endfor %}", "unexpected 'endfor'", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ 'abc }}", "unterminated string", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ (1 + }}", "line 1", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ x ] }}", "unexpected ']'", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ }}", "unexpected", ErrorCode::kInvalidArgument);
  expect_parse_error("{% %}", "expected a tag name", ErrorCode::kInvalidArgument);
  expect_parse_error("{{ x $ y }}", "unexpected character '$'", ErrorCode::kInvalidArgument);
  expect_parse_error("a\nb\n{% if %}", "line 3", ErrorCode::kInvalidArgument);
  expect_parse_error("{% raw %}never closed", "endraw", ErrorCode::kInvalidArgument);
}

TEST(ChatTemplateErrors, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  expect_parse_error(deep, "nested too deeply", ErrorCode::kInvalidArgument);
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  expect_parse_error(blocks, "nested too deeply", ErrorCode::kInvalidArgument);
}

TEST(ChatTemplateErrors, RuntimeErrors) {
  expect_render_error("{{ raise_exception('Conversation roles must alternate') }}", "Conversation roles must alternate");
  expect_render_error("{{ 'a' + 1 }}", "unsupported operand");
  expect_render_error("{{ nope.attr }}", "'nope' is undefined");
  expect_render_error("{{ 'abc'.format(1) }}", "str.format");
  expect_render_error("{{ 'abc'.nosuch() }}", "nosuch");
  expect_render_error("{% set xs = [] %}{{ xs.append(1) }}", "list.append");
  expect_render_error("{{ 1 // 0 }}", "division");
  expect_render_error("{{ 'a' in none }}", "not iterable");
  expect_render_error("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace");
  expect_render_error("{{ x | tojson }}", "not JSON serializable");
  expect_render_error("{{ '%s' % 1 }}", "printf-style");
  expect_render_error("{{ range }}", "callable");
}

TEST(ChatTemplateErrors, LimitsStopRunawayTemplates) {
  expect_render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "too deep");
  expect_render_error("{{ 'x' * 1000000000 }}", "size limit");
  expect_render_error("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                      "size limit");
  expect_render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "step limit");
  expect_render_error("{{ range(1000000000) | length }}", "range() too big");
  // Nesting grown through a namespace (found by fuzz_chat_template: 100,000 levels overflowed the
  // stack when printed); 200 levels render as jinja2 does (goldens_constructs: deep_nesting_200).
  expect_render_error("{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
                      "nested more than 256 levels");
  expect_render_error("{% set ns = namespace(x=1) %}{% for i in range(300) %}{% set ns.x = {'k': ns.x} %}{% endfor %}",
                      "nested more than 256 levels");
  expect_render_error("{% set ns = namespace(p=none) %}{% for i in range(300) %}{% set n = namespace(prev=ns.p) %}"
                      "{% set ns.p = n %}{% endfor %}",
                      "nested more than 256 levels");
}

TEST(ChatTemplateErrors, ErrorsCarryTheLine) {
  auto out = test::render_source("line one\n{{ 'x' }}\n{{ 'a' + 1 }}");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("line 3"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace ds
