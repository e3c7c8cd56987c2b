#pragma once
// Device-to-device copy bandwidth through the Backend (bytes read + written per second): the memory
// limit the CUDA benchmarks report against, measured in the same run. Median of `reps` timed
// batches of `inner` synchronized copies of `bytes` (2 GiB: far beyond the L2), after a warm-up.
#include <algorithm>
#include <chrono>
#include <vector>

#include "backend/backend.h"

namespace ds {

inline double measure_copy_bandwidth(Backend& be, size_t bytes = size_t(2) << 30, int inner = 5, int reps = 5) {
  auto src = be.alloc(bytes), dst = be.alloc(bytes);
  std::vector<uint8_t> pattern(size_t(1) << 20);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = uint8_t(i * 2654435761u >> 13);
  for (size_t off = 0; off < bytes; off += pattern.size())  // non-zero data (zeros might be special)
    be.copy_to_device(static_cast<uint8_t*>(src->data()) + off, pattern.data(), std::min(pattern.size(), bytes - off));
  for (int i = 0; i < 2; ++i) be.copy_on_device(dst->data(), src->data(), bytes);
  be.synchronize();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) be.copy_on_device(dst->data(), src->data(), bytes);
    be.synchronize();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return 2.0 * double(bytes) / t[t.size() / 2];
}

}  // namespace ds
