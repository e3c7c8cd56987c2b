#pragma once
// UTF-8 helpers shared by the tokenizer stages. "Lossy" follows Rust's String::from_utf8_lossy
// (one U+FFFD per maximal invalid subpart), because that is what HF tokenizers' decoders produce.
#include <cstddef>
#include <string>
#include <string_view>

namespace ds::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is ill-formed. When it returns 0,
// *bad_len (if given) receives the length of the maximal invalid subpart (>= 1).
size_t utf8_valid_len(std::string_view s, size_t i, size_t* bad_len = nullptr);
// Decodes the well-formed sequence at s[i] (caller checked utf8_valid_len > 0).
char32_t utf8_decode_at(std::string_view s, size_t i, size_t len);
void utf8_append(std::string& out, char32_t cp);
bool utf8_is_valid(std::string_view s);
// Replaces every maximal invalid subpart with U+FFFD.
std::string utf8_lossy(std::string_view bytes);
// Largest index <= pos that starts a UTF-8 character in a valid string.
size_t utf8_floor_boundary(std::string_view s, size_t pos);
// Unicode White_Space (Rust's char::is_whitespace).
bool is_unicode_whitespace(char32_t cp);

}  // namespace ds::tok
