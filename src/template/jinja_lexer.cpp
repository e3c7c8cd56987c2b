#include "template/jinja_lexer.h"

#include <cstring>

#include "template/jinja_text.h"

namespace ds::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

std::string rstrip_ws(std::string_view s) { return py_strip(s, false, true); }

// Python's "unicode-escape" decoding of a string literal body, as jinja2 applies it.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        if (i + n >= s.size()) {
          out += '\\';
          out += c;
          break;
        }
        std::string hex(s.substr(i + 1, n));
        if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
          out += '\\';
          out += c;
          break;
        }
        auto cp = static_cast<char32_t>(std::stoul(hex, nullptr, 16));
        append_utf8(out, cp > 0x10FFFF ? 0xFFFD : cp);
        i += n;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          unsigned v = 0;
          size_t k = 0;
          for (; k < 3 && i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7'; ++k) v = v * 8 + (s[i + k] - '0');
          append_utf8(out, v);
          i += k - 1;
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  Result<std::vector<Token>> run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit(TokKind::kText, src_.substr(pos_));
        pos_ = src_.size();
        break;
      }
      DS_RETURN_IF_ERROR(handle_tag(tag));
    }
    emit(TokKind::kEof, "");
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string::npos;
  }

  // Line of offset p; memoized forward scan (positions are queried mostly in increasing order).
  int line_at(size_t p) const {
    if (p < line_pos_) {
      line_pos_ = 0;
      line_no_ = 1;
    }
    for (; line_pos_ < p && line_pos_ < src_.size(); ++line_pos_) line_no_ += src_[line_pos_] == '\n';
    return line_no_;
  }

  void emit(TokKind kind, std::string value) {
    if (kind == TokKind::kText && value.empty()) return;
    tokens_.push_back(Token{kind, std::move(value), cur_line_});
  }

  Status error(const std::string& msg, size_t p) const {
    return invalid_argument("template syntax error at line " + std::to_string(line_at(p)) + ": " + msg);
  }

  // Text before a tag, after `{%-` stripping or lstrip_blocks.
  std::string text_before(size_t tag, char kind, char sign) const {
    std::string text = src_.substr(pos_, tag - pos_);
    if (sign == '-') return rstrip_ws(text);
    if (sign == '+' || kind == '{') return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting_) return text;
    if (l_pos == text.size()) return text;
    for (size_t i = l_pos; i < text.size(); ++i)
      if (!is_ws(text[i])) return text;
    return text.substr(0, l_pos);
  }

  // Consumes the tag end at p (`[-+]?%}` etc.) and applies trailing whitespace rules.
  void consume_end(size_t p, char kind) {
    char sign = src_[p];
    size_t after = p + (sign == '-' || sign == '+' ? 1 : 0) + 2;
    if (sign == '-') {
      while (after < src_.size() && is_ws(src_[after])) ++after;
    } else if (sign != '+' && kind != '{' && after < src_.size() && src_[after] == '\n') {
      ++after;  // trim_blocks
    }
    line_starting_ = after > 0 && src_[after - 1] == '\n';
    pos_ = after;
  }

  Status handle_tag(size_t tag) {
    char kind = src_[tag + 1];
    char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
    if (sign != '-' && sign != '+') sign = '\0';
    cur_line_ = line_at(pos_);
    emit(TokKind::kText, text_before(tag, kind, sign));
    cur_line_ = line_at(tag);
    size_t body = tag + 2 + (sign ? 1 : 0);
    if (kind == '#') return handle_comment(tag, body);
    if (kind == '%' && is_raw(body)) return handle_raw(tag);
    emit(kind == '{' ? TokKind::kVarBegin : TokKind::kBlockBegin, "");
    return lex_expression(body, kind, tag);
  }

  Status handle_comment(size_t tag, size_t body) {
    size_t end = src_.find("#}", body);
    if (end == std::string::npos) return error("unclosed comment", tag);
    size_t p = (end > body && (src_[end - 1] == '-' || src_[end - 1] == '+')) ? end - 1 : end;
    consume_end(p, '#');
    return Status::ok();
  }

  // `{% raw %}` (any whitespace control) starts a verbatim section.
  bool is_raw(size_t p) const {
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  // Finds `{%[-+]? endraw [-+]?%}` from p; returns the tag start, sets end_sign_pos to the end sign.
  size_t find_endraw(size_t p, size_t& end_pos) const {
    for (size_t t = src_.find("{%", p); t != std::string::npos; t = src_.find("{%", t + 1)) {
      size_t q = t + 2;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      size_t sign_pos = q;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      if (src_.compare(q, 2, "%}") != 0) continue;
      end_pos = sign_pos;
      return t;
    }
    return std::string::npos;
  }

  Status handle_raw(size_t tag) {
    size_t close = src_.find("%}", tag);
    consume_end(src_[close - 1] == '-' || src_[close - 1] == '+' ? close - 1 : close, '%');
    size_t end_pos = 0;
    size_t t = find_endraw(pos_, end_pos);
    if (t == std::string::npos) return error("unclosed 'raw' block (expected 'endraw')", tag);
    char sign = src_[t + 2] == '-' || src_[t + 2] == '+' ? src_[t + 2] : '\0';
    emit(TokKind::kText, text_before(t, '%', sign));
    consume_end(end_pos, '%');
    return Status::ok();
  }

  // Tag end at p for this tag kind, or 0 if none: returns the length of `[-]?%}` / `[-]?}}`.
  bool at_end(size_t p, char kind) const {
    const char* close = kind == '{' ? "}}" : "%}";
    if (src_.compare(p, 2, close) == 0) return true;
    if (src_[p] == '-' || (src_[p] == '+' && kind == '%')) return src_.compare(p + 1, 2, close) == 0;
    return false;
  }

  Status lex_expression(size_t p, char kind, size_t tag) {
    std::vector<char> balance;
    while (true) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
      if (p >= src_.size()) return error(std::string("unclosed tag '") + (kind == '{' ? "{{" : "{%") + "'", tag);
      cur_line_ = line_at(p);
      if (balance.empty() && at_end(p, kind)) {
        emit(kind == '{' ? TokKind::kVarEnd : TokKind::kBlockEnd, "");
        consume_end(p, kind);
        return Status::ok();
      }
      DS_ASSIGN_OR_RETURN(p, lex_token(p, balance));
    }
  }

  Result<size_t> lex_token(size_t p, std::vector<char>& balance) {
    char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      emit(TokKind::kName, src_.substr(p, e - p));
      return e;
    }
    if (is_digit(c)) return lex_number(p);
    if (c == '\'' || c == '"') return lex_string(p);
    static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kOps2) {
      if (src_.compare(p, 2, op) == 0) {
        emit(TokKind::kOp, op);
        return p + 2;
      }
    }
    if (std::strchr("+-/*%~[](){}><=.:|,;", c) == nullptr)
      return error(std::string("unexpected character '") + c + "'", p);
    if (c == '(' || c == '[' || c == '{') balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty() || balance.back() != c) return error(std::string("unexpected '") + c + "'", p);
      balance.pop_back();
    }
    emit(TokKind::kOp, std::string(1, c));
    return p + 1;
  }

  Result<size_t> lex_number(size_t p) {
    size_t e = p;
    auto digits = [&] {
      while (e < src_.size() && (is_digit(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && is_digit(src_[e + 1]))))
        ++e;
    };
    digits();
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      ++e;
      digits();
      is_float = true;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        e = q;
        digits();
        is_float = true;
      }
    }
    std::string num;
    for (size_t i = p; i < e; ++i)
      if (src_[i] != '_') num += src_[i];
    emit(is_float ? TokKind::kFloat : TokKind::kInt, num);
    return e;
  }

  Result<size_t> lex_string(size_t p) {
    char q = src_[p];
    size_t e = p + 1;
    while (e < src_.size() && src_[e] != q) e += src_[e] == '\\' ? 2 : 1;
    if (e >= src_.size()) return error("unterminated string literal", p);
    emit(TokKind::kString, unescape(std::string_view(src_).substr(p + 1, e - p - 1)));
    return e + 1;
  }

  std::string src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  int cur_line_ = 1;
  mutable size_t line_pos_ = 0;
  mutable int line_no_ = 1;
  std::vector<Token> tokens_;
};

// Newlines become "\n" (jinja2's newline_sequence) and one trailing newline is dropped.
std::string normalize_source(std::string_view source) {
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s += source[i];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view source) { return Lexer(normalize_source(source)).run(); }

}  // namespace ds::jinja
