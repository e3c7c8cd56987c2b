// libFuzzer target: any byte string given to the safetensors header parser must produce either a
// tensor map whose views lie inside the buffer or an error Status — never a crash or a hang.
#include <cstddef>
#include <cstdint>

#include "common/check.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = ds::SafetensorsFile::parse(data, size, "fuzz");
  if (!r.ok()) return 0;
  for (const auto& [name, info] : *r) {
    const auto* begin = static_cast<const uint8_t*>(info.view.data);
    DS_CHECK(begin >= data && begin + info.view.nbytes() <= data + size) << "tensor '" << name << "' out of bounds";
  }
  return 0;
}
