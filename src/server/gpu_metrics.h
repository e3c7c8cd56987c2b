#pragma once
// GpuMetrics: per-GPU utilisation, memory, temperature and power for /metrics, read through NVML.
// libnvidia-ml.so.1 comes with the NVIDIA driver, so it is opened at run time (dlopen) and the
// binary keeps running on machines without a GPU: available() is then false and nothing is
// exported. refresh() may be called from any thread (the /metrics handler).
#include <memory>
#include <mutex>
#include <vector>

#include "server/metrics_registry.h"

namespace ds {

class GpuMetrics {
 public:
  // Registers the dsserve:gpu_* families in `registry` when NVML is present.
  explicit GpuMetrics(metrics::Registry& registry);
  ~GpuMetrics();
  bool available() const { return nvml_ != nullptr; }
  int device_count() const { return int(devices_.size()); }
  void refresh();  // reads every device and sets the gauges

 private:
  struct Nvml;
  struct Device {
    void* handle = nullptr;
    metrics::Gauge* util = nullptr;
    metrics::Gauge* mem_used = nullptr;
    metrics::Gauge* mem_total = nullptr;
    metrics::Gauge* temperature = nullptr;
    metrics::Gauge* power = nullptr;
  };
  std::unique_ptr<Nvml> nvml_;
  std::vector<Device> devices_;
  std::mutex mu_;
};

}  // namespace ds
