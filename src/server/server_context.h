#pragma once
// ServerContext: what every HTTP handler shares. Filled in by the main thread before the model is
// marked ready; afterwards only the atomics and the in-flight registry change (any thread).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "engine/engine.h"
#include "server/audit_log.h"
#include "server/auth.h"
#include "server/openai_protocol.h"
#include "server/gpu_metrics.h"
#include "server/request_metrics.h"
#include "server/server_config.h"

namespace ds::server {

struct ServerContext;

// Engine request ids of every accepted request that has not finished (for the SIGTERM drain).
class InflightRegistry {
 public:
  void add(const std::string& id);
  void remove(const std::string& id);
  size_t size() const;
  std::vector<std::string> ids() const;

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> ids_;
};

// Counters the HTTP side keeps itself (the engine's are in EngineStats).
struct HttpCounters {
  std::atomic<int64_t> requests_total{0}, errors_4xx{0}, errors_5xx{0}, rejected_overload{0}, client_disconnects{0},
      request_timeouts{0};
};

struct RequestTimings;
// Writes the audit line of one finished request (no-op without --log-file). request_log.cpp.
void audit_request(ServerContext& ctx, const RequestTimings& t, const RequestRecord& rec);

struct ServerContext {
  explicit ServerContext(ServerConfig c) : cfg(std::move(c)), auth(cfg.api_keys) {}

  ServerConfig cfg;
  ApiKeyAuth auth;
  std::atomic<bool> ready{false};     // model loaded, engine running
  std::atomic<bool> draining{false};  // SIGTERM: new generation requests get 503
  std::atomic<int64_t> last_request_ns{0};  // steady clock at the latest request's routing (the drain's quiet period)
  Engine* engine = nullptr;           // set before `ready`
  const LoadedModel* model = nullptr;
  ProtocolContext protocol;
  InflightRegistry inflight;
  std::mutex admission_mu;  // --max-waiting-requests: check + submit as one step
  HttpCounters counters;
  std::unique_ptr<ServerMetrics> metrics;  // set before `ready`
  std::unique_ptr<GpuMetrics> gpu_metrics; // --device cuda with NVML; refreshed per scrape
  std::unique_ptr<AuditLog> audit;         // --log-file; null = no audit log
  std::atomic<uint64_t> next_request{0};
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  const std::string& model_name() const { return cfg.served_model_names.front(); }
  bool serves(const std::string& name) const;
};

}  // namespace ds::server
