#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace ds::tok {
namespace {

bool maps_to_itself(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }

std::array<char32_t, 256> make_code_points() {
  std::array<char32_t, 256> cps{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) cps[b] = maps_to_itself(b) ? static_cast<char32_t>(b) : next++;
  return cps;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode_table() {
  // A constant table computed once; immutable afterwards (safe to share across threads).
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    const auto cps = make_code_points();
    for (int b = 0; b < 256; ++b) utf8_append(t[b], cps[b]);
    return t;
  }();
  return table;
}

void bytes_to_byte_level(std::string_view bytes, std::string& out) {
  const auto& table = byte_to_unicode_table();
  for (unsigned char b : bytes) out += table[b];
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  // Inverse map over code points < 324 (the largest is U+0143).
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv;
    inv.fill(-1);
    const auto cps = make_code_points();
    for (int b = 0; b < 256; ++b) inv[cps[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  const size_t start = out.size();
  for (size_t i = 0; i < token.size();) {
    const size_t n = utf8_valid_len(token, i);
    const char32_t cp = n ? utf8_decode_at(token, i, n) : 0xFFFFFFFF;
    if (n == 0 || cp >= inverse.size() || inverse[cp] < 0) {
      out.resize(start);
      return false;
    }
    out.push_back(static_cast<char>(inverse[cp]));
    i += n;
  }
  return true;
}

}  // namespace ds::tok
