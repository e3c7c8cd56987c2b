#pragma once
// Backend: memory + the op table, chosen once at start-up. The CPU backend always exists.
#include <cstddef>
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
  // Sampling where the logits are (backend/sampling.h); nullptr: the engine samples on the host
  // (the CPU backend: its logits already are host memory).
  virtual DeviceSampler* sampler() { return nullptr; }
};

struct CpuBackendOptions {
  int num_threads = 0;  // 0 = all cores
};
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& opts);

}  // namespace ds
