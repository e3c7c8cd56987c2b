#pragma once
// Backend: memory + the op table, chosen once at start-up. The CPU backend always exists.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "backend/ops.h"
#include "backend/sampling.h"
#include "core/tensor.h"

namespace ds {

// Owning allocation in a backend's memory; freed by the backend that made it.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
};

// Device memory as the driver reports it (all processes); zeros where unknown (the CPU).
struct MemoryInfo {
  size_t free = 0, total = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Ops& ops() = 0;
  virtual std::unique_ptr<DeviceBuffer> alloc(size_t bytes) = 0;  // zero-filled
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_on_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // Activation dtype of this backend (float32 on the CPU).
  virtual DType activation_dtype() const = 0;
  // Element dtype of the paged KV cache (--kv-cache-dtype): the activation dtype unless the backend
  // was made with another (the CPU: bfloat16 or float16 halve the cache's memory and reads).
  virtual DType kv_cache_dtype() const { return activation_dtype(); }
  // Sampling where the logits are (backend/sampling.h); nullptr: the engine samples on the host
  // (the CPU backend: its logits already are host memory).
  virtual DeviceSampler* sampler() { return nullptr; }

  // --- Asynchronous inputs and graphs (defaults: the CPU's synchronous behaviour) ---
  virtual MemoryInfo memory_info() const { return {}; }
  // Host memory that copy_to_device_2d_async may read without a staging copy (page-locked on CUDA).
  virtual std::unique_ptr<DeviceBuffer> alloc_host(size_t bytes) { return alloc(bytes); }
  // Enqueues `rows` copies of `width` bytes, host `src` (row pitch src_pitch) to device `dst` (row
  // pitch dst_pitch), in stream order, and returns. `src` (from alloc_host) must stay unchanged
  // until the next blocking copy or synchronize().
  virtual void copy_to_device_2d_async(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width,
                                       size_t rows) {
    for (size_t r = 0; r < rows; ++r)
      copy_to_device(static_cast<uint8_t*>(dst) + r * dst_pitch, static_cast<const uint8_t*>(src) + r * src_pitch, width);
  }
  // Whether run_graph records and replays (CUDA graphs) rather than just calling its body.
  virtual bool supports_graphs() const { return false; }
  // Runs `body` (a sequence of ops). A graph backend records it as graph `key` on the first call and
  // replays the recording on later calls with the same key: the body must then read every input
  // from the same device addresses each time, and must not allocate or copy to/from the host.
  virtual void run_graph(int64_t key, const std::function<void()>& body) {
    (void)key;
    body();
  }
  // Drops the recording of `key` (it records anew on next use); no-op for an unknown key.
  virtual void erase_graph(int64_t key) { (void)key; }
  virtual size_t num_graphs() const { return 0; }
};

struct CpuBackendOptions {
  int num_threads = 0;                 // 0 = all cores
  DType kv_cache_dtype = DType::kF32;  // kF32, kBF16 or kF16
};
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& opts);

}  // namespace ds
