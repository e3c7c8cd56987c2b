#pragma once
// Test harness: runs requests through a real Engine (CPU backend) on the numerics test models.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "engine/engine.h"
#include "runtime/loaded_model.h"

namespace ds::test {

struct Output {
  std::vector<int32_t> ids;
  std::vector<float> logprobs;
  std::string text;
  std::string finish;
  Usage usage;
};

inline const LoadedModel& test_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;  // tests load each model once
  auto& slot = cache[name];
  if (!slot) {
    ModelSource src;
    src.model = std::string(DS_BINARY_DIR) + "/test_models/" + name;
    auto m = load_model(src);
    DS_CHECK(m.ok()) << m.status().message() << " (the make_test_models CTest fixture creates it)";
    slot = std::move(m).value();
  }
  return *slot;
}

inline nlohmann::json numerics_goldens() {
  std::ifstream in(DS_SOURCE_DIR "/tests/data/numerics/goldens.json");
  DS_CHECK(in.good()) << "missing tests/data/numerics/goldens.json";
  return nlohmann::json::parse(in);
}

inline EngineConfig small_engine_config() {
  EngineConfig c;
  c.num_kv_blocks = 512;
  c.block_size = 16;
  c.max_model_len = 1024;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 2048;
  c.swap_space_gib = 1.0;
  return c;
}

inline Output collect(RequestStream& s, int32_t index = 0) {
  Output o;
  for (const StreamEvent& e : s.drain()) {
    if (e.done) o.usage = e.usage;
    if (e.index != index) continue;
    o.ids.insert(o.ids.end(), e.token_ids.begin(), e.token_ids.end());
    for (const SampledToken& t : e.logprobs) o.logprobs.push_back(t.logprob);
    o.text += e.text;
    if (e.finish_reason) o.finish = finish_reason_name(*e.finish_reason);
  }
  return o;
}

// Runs `reqs` through one engine: all submitted at once, or one after another (`alone`).
struct RunResult {
  std::vector<Output> outputs;
  int64_t preemptions = 0, prefix_hits = 0, batched_tokens = 0;
};

inline RunResult run_requests(const LoadedModel& m, const EngineConfig& cfg, std::vector<EngineRequest> reqs,
                              bool alone = false) {
  auto backend = make_cpu_backend({});
  auto engine = Engine::create(cfg, m, *backend);
  DS_CHECK(engine.ok()) << engine.status().message();
  RunResult r;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (auto& req : reqs) {
    auto s = (*engine)->submit(req);
    DS_CHECK(s.ok()) << s.status().message();
    if (alone) {
      r.outputs.push_back(collect(**s));
    } else {
      streams.push_back(*s);
    }
  }
  for (auto& s : streams) r.outputs.push_back(collect(*s));
  r.preemptions = (*engine)->stats().num_preemptions_total;
  r.prefix_hits = (*engine)->stats().prefix_cache_hits;
  r.batched_tokens = (*engine)->stats().batched_tokens_total;
  return r;
}

inline EngineRequest greedy_request(std::string id, std::vector<int32_t> prompt, int32_t max_tokens) {
  EngineRequest r;
  r.request_id = std::move(id);
  r.prompt_ids = std::move(prompt);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  r.params.logprobs = 0;
  return r;
}

}  // namespace ds::test
