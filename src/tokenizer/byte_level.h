#pragma once
// GPT-2's reversible byte <-> printable-character map used by byte-level BPE vocabularies: bytes
// that are printable Latin-1 map to themselves, the other 68 map to U+0100.. in byte order.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ds::tok {

// UTF-8 text of the character standing for each byte.
const std::array<std::string, 256>& byte_to_unicode_table();
// Appends the byte-level form of `bytes` to out.
void bytes_to_byte_level(std::string_view bytes, std::string& out);
// Maps a byte-level token back to bytes; false if some character is outside the alphabet.
bool byte_level_to_bytes(std::string_view token, std::string& out);

}  // namespace ds::tok
