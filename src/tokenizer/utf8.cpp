#include "tokenizer/utf8.h"

#include <unicode/uchar.h>

namespace ds::tok {
namespace {

bool in_range(unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; }

// Valid range of the second byte for a given lead byte (Unicode Table 3-7).
void second_byte_range(unsigned char lead, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0) *lo = 0xA0;
  if (lead == 0xED) *hi = 0x9F;
  if (lead == 0xF0) *lo = 0x90;
  if (lead == 0xF4) *hi = 0x8F;
}

}  // namespace

size_t utf8_valid_len(std::string_view s, size_t i, size_t* bad_len) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t need = 0;
  if (lead < 0x80) return 1;
  if (in_range(lead, 0xC2, 0xDF)) need = 2;
  else if (in_range(lead, 0xE0, 0xEF)) need = 3;
  else if (in_range(lead, 0xF0, 0xF4)) need = 4;
  if (need == 0) {
    if (bad_len) *bad_len = 1;
    return 0;
  }
  unsigned char lo = 0, hi = 0;
  second_byte_range(lead, &lo, &hi);
  for (size_t k = 1; k < need; ++k) {
    const bool ok = i + k < s.size() && in_range(static_cast<unsigned char>(s[i + k]), lo, hi);
    if (!ok) {
      if (bad_len) *bad_len = k;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need;
}

char32_t utf8_decode_at(std::string_view s, size_t i, size_t len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (len == 1) return b0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool utf8_is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_valid_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    size_t bad = 0;
    const size_t n = utf8_valid_len(bytes, i, &bad);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append(kReplacementChar);
      i += bad;
    }
  }
  return out;
}

size_t utf8_floor_boundary(std::string_view s, size_t pos) {
  if (pos >= s.size()) return s.size();
  while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

bool is_unicode_whitespace(char32_t cp) {
  return u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_WHITE_SPACE) != 0;
}

}  // namespace ds::tok
