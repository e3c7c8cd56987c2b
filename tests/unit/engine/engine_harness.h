#pragma once
// Test harness: runs requests through a real Engine (CPU backend) on the numerics test models.
// Built with DS_TEST_CUDA (tests/gpu: test_gpu_engine), the same tests run on the CUDA backend in
// batch-invariant mode, with the GPU acceptance tolerance against the goldens (bf16: 0.05), and
// DS_SOURCE_DIR / DS_TEST_MODELS_DIR from the environment when set (the GPU machine's paths).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "engine/engine.h"
#include "runtime/loaded_model.h"
#ifdef DS_TEST_CUDA
#include "backend/cuda/cuda_backend.h"
#include "runtime/device_weights.h"
#endif

namespace ds::test {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

struct Output {
  std::vector<int32_t> ids;
  std::vector<float> logprobs;
  std::string text;
  std::string finish;
  std::string stop_reason;
  Usage usage;
};

inline const LoadedModel& load_cached(const std::string& path) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;  // tests load each model once
  auto& slot = cache[path];
  if (!slot) {
    ModelSource src;
    src.model = path;
    auto m = load_model(src);
    DS_CHECK(m.ok()) << m.status().message() << " (the make_test_models CTest fixture creates it)";
    slot = std::move(m).value();
  }
  return *slot;
}

// The numerics test models (random weights, made by the make_test_models fixture).
inline const LoadedModel& test_model(const std::string& name) {
  return load_cached(env_or("DS_TEST_MODELS_DIR", std::string(DS_BINARY_DIR) + "/test_models") + "/" + name);
}

// A model with a tokenizer from ../shared/models (e.g. stories260k).
inline const LoadedModel& shared_model(const std::string& name) {
  return load_cached(std::string(DS_SHARED_DIR) + "/models/" + name);
}

inline nlohmann::json numerics_goldens() {
  std::ifstream in(env_or("DS_SOURCE_DIR", DS_SOURCE_DIR) + "/tests/data/numerics/goldens.json");
  DS_CHECK(in.good()) << "missing tests/data/numerics/goldens.json";
  return nlohmann::json::parse(in);
}

// One CPU thread: the models are tiny, and on a shared 2-core machine OpenMP barriers spin for most
// of a step. Results do not depend on the thread count (every sum has a fixed order).
// kv_cache_dtype: the CPU's --kv-cache-dtype (the CUDA backend's cache is bf16 whatever it says).
inline std::unique_ptr<Backend> make_test_backend(DType kv_cache_dtype = DType::kF32) {
#ifdef DS_TEST_CUDA
  (void)kv_cache_dtype;
  CudaBackendOptions c;
  c.batch_invariant = true;
  return make_cuda_backend(c);
#else
  CpuBackendOptions o;
  o.num_threads = 1;
  o.kv_cache_dtype = kv_cache_dtype;
  return make_cpu_backend(o);
#endif
}

// The model as the engine on `backend` sees it: on a device backend, its weights uploaded there.
struct PlacedModel {
  const LoadedModel* model = nullptr;
  std::unique_ptr<LoadedModel> uploaded;
};
inline PlacedModel place_on(const LoadedModel& m, Backend& backend) {
  PlacedModel p{&m, nullptr};
#ifdef DS_TEST_CUDA
  p.uploaded = std::make_unique<LoadedModel>();
  p.uploaded->config = m.config;
  p.uploaded->generation = m.generation;
  p.uploaded->name = m.name;
  p.uploaded->weights = upload_weights(m.weights, backend, DType::kBF16);
  p.model = p.uploaded.get();
#else
  (void)backend;
#endif
  return p;
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

// Every event of a request until `done`; a test failure (not a hang) when the engine stalls.
inline std::vector<StreamEvent> drain_events(RequestStream& s, std::chrono::seconds limit = std::chrono::seconds(120)) {
  std::vector<StreamEvent> all;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  StreamEvent e;
  while (all.empty() || !all.back().done) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "request did not finish within " << limit.count() << " s";
      break;
    }
    if (s.next(e, std::chrono::milliseconds(100))) all.push_back(std::move(e));
  }
  return all;
}

inline Output collect(RequestStream& s, int32_t index = 0) {
  Output o;
  for (const StreamEvent& e : drain_events(s)) {
    if (e.done) o.usage = e.usage;
    if (e.index != index) continue;
    o.ids.insert(o.ids.end(), e.token_ids.begin(), e.token_ids.end());
    for (const SampledToken& t : e.logprobs) o.logprobs.push_back(t.logprob);
    o.text += e.text;
    if (e.finish_reason) {
      o.finish = finish_reason_name(*e.finish_reason);
      o.stop_reason = e.stop_reason;
    }
  }
  return o;
}

// Runs `reqs` through one engine: all submitted at once, or one after another (`alone`).
struct RunResult {
  std::vector<Output> outputs;
  int64_t preemptions = 0, prefix_hits = 0, batched_tokens = 0;
};

inline RunResult run_requests(const LoadedModel& m, const EngineConfig& cfg, std::vector<EngineRequest> reqs,
                              bool alone = false, DType kv_cache_dtype = DType::kF32) {
  auto backend = make_test_backend(kv_cache_dtype);
  const PlacedModel placed = place_on(m, *backend);
  auto engine = Engine::create(cfg, *placed.model, *backend);
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

// All n choices of one request, by index.
inline std::vector<Output> collect_choices(RequestStream& s, int32_t n) {
  std::vector<Output> outs(static_cast<size_t>(n));
  Usage usage;
  for (const StreamEvent& e : drain_events(s)) {
    if (e.done) usage = e.usage;
    if (e.index < 0 || e.index >= n) {
      ADD_FAILURE() << "event for choice " << e.index << " of " << n;
      continue;
    }
    Output& o = outs[size_t(e.index)];
    o.ids.insert(o.ids.end(), e.token_ids.begin(), e.token_ids.end());
    for (const SampledToken& t : e.logprobs) o.logprobs.push_back(t.logprob);
    o.text += e.text;
    if (e.finish_reason) o.finish = finish_reason_name(*e.finish_reason);
  }
  for (Output& o : outs) o.usage = usage;
  return outs;
}

#ifdef DS_TEST_CUDA
constexpr double kGoldenLogprobTol = 0.05;  // GPU acceptance bound: bf16 weights and activations
constexpr double kGoldenTieGap = 0.05;
#else
constexpr double kGoldenLogprobTol = 1e-3;  // the acceptance bound
constexpr double kGoldenTieGap = 1e-3;      // HF top-2 logits closer than this may legitimately swap
#endif
// The CPU with a 16-bit KV cache (--kv-cache-dtype bfloat16 / float16): K and V rounded to 16 bits
// against HF's float32, held to the GPU's bf16 bound.
constexpr double kHalfKvGoldenTol = 0.05;

// Compares one output with its golden steps (HF transformers); returns the largest logprob error.
// tol: the logprob bound, and the HF top-2 gap under which the ids may swap.
inline double expect_matches_golden(const Output& out, const nlohmann::json& c, const std::string& what,
                                    double tol = kGoldenLogprobTol, double tie_gap = kGoldenTieGap) {
  double worst = 0;
  EXPECT_EQ(out.ids.size(), c["steps"].size()) << what;
  for (size_t s = 0; s < std::min(out.ids.size(), c["steps"].size()); ++s) {
    const auto& want = c["steps"][s];
    if (out.ids[s] != want["id"].get<int32_t>()) {
      EXPECT_LT(want["top2_gap"].get<double>(), tie_gap)
          << what << " step " << s << ": got id " << out.ids[s] << " want " << want["id"] << " (HF top-2 gap "
          << want["top2_gap"] << ")";
      break;  // continuations legitimately diverge after a near-tie
    }
    if (s >= out.logprobs.size()) {
      ADD_FAILURE() << what << ": no logprob for step " << s;
      break;
    }
    const double err = std::abs(out.logprobs[s] - want["logprob"].get<double>());
    worst = std::max(worst, err);
    EXPECT_LT(err, tol) << what << " step " << s;
  }
  return worst;
}

// n token ids in [0, 150000] (inside both test models' vocabularies), fixed by `seed`.
inline std::vector<int32_t> random_prompt(uint32_t seed, int32_t n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, 150000);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
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
