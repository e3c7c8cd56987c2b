#include "server/gpu_metrics.h"

#include <dlfcn.h>

#include <string>

namespace ds {

// The few NVML entry points used, declared by their documented C signatures (the driver's
// libnvidia-ml.so.1 provides them; no NVML header is needed to build). Return 0 = NVML_SUCCESS.
struct GpuMetrics::Nvml {
  struct Memory {
    unsigned long long total, free, used;
  };
  struct Utilization {
    unsigned int gpu, memory;
  };
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned int*) = nullptr;
  int (*handle)(unsigned int, void**) = nullptr;
  int (*utilization)(void*, Utilization*) = nullptr;
  int (*memory)(void*, Memory*) = nullptr;
  int (*temperature)(void*, int, unsigned int*) = nullptr;  // sensor 0 = NVML_TEMPERATURE_GPU
  int (*power)(void*, unsigned int*) = nullptr;             // milliwatts

  template <class F>
  bool sym(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    return f != nullptr;
  }
  bool load() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    return sym(init, "nvmlInit_v2") && sym(shutdown, "nvmlShutdown") && sym(count, "nvmlDeviceGetCount_v2") &&
           sym(handle, "nvmlDeviceGetHandleByIndex_v2") && sym(utilization, "nvmlDeviceGetUtilizationRates") &&
           sym(memory, "nvmlDeviceGetMemoryInfo") && sym(temperature, "nvmlDeviceGetTemperature") &&
           sym(power, "nvmlDeviceGetPowerUsage") && init() == 0;
  }
  ~Nvml() {
    if (lib && shutdown) shutdown();
    if (lib) dlclose(lib);
  }
};

GpuMetrics::GpuMetrics(metrics::Registry& registry) {
  auto nvml = std::make_unique<Nvml>();
  unsigned int n = 0;
  if (!nvml->load() || nvml->count(&n) != 0 || n == 0) return;
  auto& util = registry.add_gauge("dsserve:gpu_utilization_perc", "GPU utilisation (0-100) over NVML's last sample period");
  auto& used = registry.add_gauge("dsserve:gpu_memory_used_bytes", "GPU memory in use (all processes)");
  auto& total = registry.add_gauge("dsserve:gpu_memory_total_bytes", "GPU memory in total");
  auto& temp = registry.add_gauge("dsserve:gpu_temperature_celsius", "GPU core temperature");
  auto& power = registry.add_gauge("dsserve:gpu_power_watts", "GPU power draw");
  for (unsigned int i = 0; i < n; ++i) {
    Device d;
    if (nvml->handle(i, &d.handle) != 0) continue;
    const metrics::Labels l = {{"gpu", std::to_string(i)}};
    d.util = &util.labels(l);
    d.mem_used = &used.labels(l);
    d.mem_total = &total.labels(l);
    d.temperature = &temp.labels(l);
    d.power = &power.labels(l);
    devices_.push_back(d);
  }
  nvml_ = std::move(nvml);
  refresh();
}

GpuMetrics::~GpuMetrics() = default;

void GpuMetrics::refresh() {
  if (!nvml_) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (Device& d : devices_) {
    Nvml::Utilization u{};
    if (nvml_->utilization(d.handle, &u) == 0) d.util->set(u.gpu);
    Nvml::Memory m{};
    if (nvml_->memory(d.handle, &m) == 0) {
      d.mem_used->set(double(m.used));
      d.mem_total->set(double(m.total));
    }
    unsigned int t = 0, mw = 0;
    if (nvml_->temperature(d.handle, 0, &t) == 0) d.temperature->set(t);
    if (nvml_->power(d.handle, &mw) == 0) d.power->set(mw / 1000.0);
  }
}

}  // namespace ds
