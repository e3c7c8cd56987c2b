#pragma once
// Text helpers that reproduce Python's string semantics for the Jinja interpreter: UTF-8 code points
// (invalid bytes survive as U+DC80..U+DCFF, like Python's surrogateescape), str.isspace/strip,
// repr() of str and float, and json.dumps string escaping with ensure_ascii=False.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ds::jinja {

std::u32string utf8_decode(std::string_view s);
void append_utf8(std::string& out, char32_t c);
std::string utf8_encode(std::u32string_view s);
size_t utf8_length(std::string_view s);

bool py_isspace(char32_t c);
// str.strip/lstrip/rstrip; chars == nullptr strips whitespace, else any of the given code points.
std::string py_strip(std::string_view s, bool left, bool right, const std::string* chars = nullptr);
std::string py_lower(std::string_view s);
std::string py_upper(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()

std::string py_float_repr(double d);  // repr(float): '1.0', '1e+16', '1.5e-07', 'inf'
std::string py_str_repr(std::string_view s);  // repr(str) with Python's quote choice
std::string json_quote(std::string_view s);   // json.dumps(str, ensure_ascii=False)

}  // namespace ds::jinja
