// libFuzzer target: Tokenizer::from_json_text on arbitrary bytes; when it loads, encode and decode a
// fixed string. Any crash, abort or sanitizer report is a bug (malformed files must give a Status).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tok = ds::Tokenizer::from_json_text(text, "", "fuzz/tokenizer.json");
  if (!tok.ok()) return 0;
  const auto ids = (*tok)->encode("Hello world 你好 <s> 👍🏽 x  \n\t 123", true);
  (void)(*tok)->decode(ids, false);
  (void)(*tok)->decode(ids, true);
  ds::IncrementalDetokenizer detok(**tok, false);
  for (int32_t id : ids) (void)detok.push(id);
  (void)detok.flush();
  return 0;
}
