// Single-stream decode benchmark of the whole model on the CUDA backend through the Engine (the
// path `dsserve generate --device cuda` takes): a built-in config with dummy bf16 weights, one
// request of `prompt` ids generating `output` tokens greedily with ignore_eos. Reports ms/token
// over the decode steps (first token excluded: that is the prefill) and the ratio to the memory
// limit measured in the same run: (weight bytes read per step + KV bytes read per step, averaged
// over the steps) / device-to-device copy bandwidth (bench/cuda/copy_bandwidth.h).
// Timing: host clock at each streamed token on the consumer side, after a warm-up request that
// creates the cuBLASLt plans of the T=1 and T=prompt shapes.
// Then the same model's decode forward alone (Decoder + KvCache, no engine thread, no sampler) at
// the average context, so the report splits GPU forward time from the engine's per-step overhead.
// Both with CUDA graphs for decode and with --enforce-eager (same card, same run), then an engine
// sized by --gpu-memory-utilization 0.9 (the default) checks that device memory in use after a
// request stays within the budget. Start-up: dummy fill (host) + upload + engine creation
// (profiling, KV allocation, graph capture).
// Last, the prefill of one 2,048-token prompt (Decoder alone) as FLOP/s against the bf16 matmul rate
// measured in the same run (8192^3 through the same matmul op).
// Usage: bench_cuda_decode MODEL_ID [PROMPT_TOKENS=128] [OUTPUT_TOKENS=512]   (prints one JSON object)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cuda/cuda_backend.h"
#include "copy_bandwidth.h"
#include "engine/engine.h"
#include "runtime/decoder.h"
#include "runtime/device_weights.h"
#include "runtime/kv_cache.h"
#include "runtime/loaded_model.h"

namespace ds {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds at which each token of one request arrived.
std::vector<double> run_request(Engine& engine, const std::string& id, int32_t prompt, int32_t output) {
  EngineRequest r;
  r.request_id = id;
  const int32_t base = int32_t(1000 + 97 * id.size());  // distinct prompts: no prefix-cache hits
  for (int32_t i = 0; i < prompt; ++i) r.prompt_ids.push_back(base + 7 * i);
  r.params.temperature = 0;
  r.params.max_tokens = output;
  r.params.ignore_eos = true;
  auto s = engine.submit(r);
  DS_CHECK(s.ok()) << s.status().message();
  const auto t0 = Clock::now();
  std::vector<double> at;
  StreamEvent e;
  while (at.empty() || !e.done) {
    if (!(*s)->next(e, std::chrono::milliseconds(1000))) continue;
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    for (size_t i = 0; i < e.token_ids.size(); ++i) at.push_back(t);
    if (e.done) break;
  }
  return at;
}

// Milliseconds per decode forward (one token at context `ctx`, logits copied to the host) with the
// Decoder alone, median of 5 batches of 20.
double forward_only_ms(const ModelConfig& c, const ModelWeights& w, Backend& be, int32_t ctx, bool graphs) {
  const int32_t block = 16, blocks = (ctx + block - 1) / block;
  KvCache kv(be, c, blocks, block);
  Decoder dec(c, w, be, 16, 1);
  if (graphs) {
    dec.set_graphs({GraphMode::kCapture, 1, blocks});
    dec.capture_graphs(kv);
  }
  ForwardBatch b;
  b.token_ids = {1234};
  b.positions = {ctx - 1};
  b.slot_mapping = {ctx - 1};
  b.query_start_loc = {0, 1};
  b.seq_lens = {ctx};
  for (int32_t i = 0; i < blocks; ++i) b.block_tables.push_back(i);
  b.max_blocks_per_seq = blocks;
  b.logits_indices = {0};
  std::vector<float> logits;
  for (int i = 0; i < 3; ++i) dec.forward(b, kv, logits);
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) dec.forward(b, kv, logits);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 20);
  }
  std::sort(t.begin(), t.end());
  return t[2] * 1e3;
}

// Milliseconds of one prefill forward of `p` tokens (a fresh sequence: positions 0..p-1, causal
// attention, the last row's logits), Decoder alone, median of 5 after 2 warm-ups.
double prefill_ms(const ModelConfig& c, const ModelWeights& w, Backend& be, int32_t p) {
  const int32_t block = 16, blocks = (p + block - 1) / block;
  KvCache kv(be, c, blocks, block);
  Decoder dec(c, w, be, p, 1);
  ForwardBatch b;
  for (int32_t i = 0; i < p; ++i) {
    b.token_ids.push_back(1000 + 7 * i);
    b.positions.push_back(i);
    b.slot_mapping.push_back(i);
  }
  b.query_start_loc = {0, p};
  b.seq_lens = {p};
  for (int32_t i = 0; i < blocks; ++i) b.block_tables.push_back(i);
  b.max_blocks_per_seq = blocks;
  b.logits_indices = {p - 1};
  std::vector<float> logits;
  for (int i = 0; i < 2; ++i) dec.forward(b, kv, logits);
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    dec.forward(b, kv, logits);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[2] * 1e3;
}

// The bf16 matmul rate of this card through the backend's matmul op (cuBLASLt at 8192^3), FLOP/s.
double measure_matmul_rate(Backend& be) {
  const int64_t m = 8192;
  auto a = be.alloc(size_t(m * m) * 2), b = be.alloc(size_t(m * m) * 2), c = be.alloc(size_t(m * m) * 2);
  const Tensor ta(a->data(), DType::kBF16, {m, m}), tb(b->data(), DType::kBF16, {m, m}), tc(c->data(), DType::kBF16, {m, m});
  for (int i = 0; i < 2; ++i) be.ops().matmul(ta, tb, Tensor(), tc);
  be.synchronize();
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 5; ++i) be.ops().matmul(ta, tb, Tensor(), tc);
    be.synchronize();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 5);
  }
  std::sort(t.begin(), t.end());
  return 2.0 * double(m) * double(m) * double(m) / t[2];
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_cuda_decode MODEL_ID [PROMPT_TOKENS] [OUTPUT_TOKENS]\n");
    return 2;
  }
  const std::string model_id = argv[1];
  const int32_t prompt = argc > 2 ? std::atoi(argv[2]) : 128, output = argc > 3 ? std::atoi(argv[3]) : 512;
  ModelSource src;
  src.model = model_id;
  src.load_format = LoadFormat::kDummy;
  src.dummy_dtype = DType::kBF16;
  const auto t_load = Clock::now();
  auto loaded = load_model(src);
  DS_CHECK(loaded.ok()) << loaded.status().message();
  LoadedModel& m = **loaded;
  const double host_s = std::chrono::duration<double>(Clock::now() - t_load).count();

  auto be = make_cuda_backend({});
  const double bw = measure_copy_bandwidth(*be);
  const auto t_up = Clock::now();
  m.weights = upload_weights(m.weights, *be, DType::kBF16);  // frees the host copy
  const double upload_s = std::chrono::duration<double>(Clock::now() - t_up).count();

  const ModelConfig& c = m.config;
  const size_t all_weights = weight_bytes(m.weights);
  // A decode step reads every matrix once; of the embedding only one row (unless it is the lm_head).
  const size_t embed = c.tie_word_embeddings ? 0 : m.weights.embed_tokens.nbytes();
  const size_t step_weights = all_weights - embed;
  // Decode step i (1..output-1) attends over prompt + i positions.
  const double avg_ctx = double(prompt) + double(output) / 2.0;
  const double kv_step = avg_ctx * double(KvCache::bytes_per_token(c, DType::kBF16));
  const double bytes = double(step_weights) + kv_step;
  const double limit_s = bytes / bw;

  nlohmann::json j = {{"model", model_id}, {"prompt_tokens", prompt}, {"output_tokens", output},
                      {"copy_bandwidth_GBps", bw / 1e9}, {"weight_bytes_per_step", step_weights},
                      {"kv_bytes_per_step_avg", kv_step}, {"limit_ms_per_token", limit_s * 1e3},
                      {"host_dummy_fill_s", host_s}, {"upload_s", upload_s},
                      {"upload_GBps", double(all_weights) / upload_s / 1e9}};
  for (const bool graphs : {false, true}) {
    EngineConfig cfg;
    cfg.kv_cache_memory_gib = 2.0;
    cfg.max_model_len = 4096;
    cfg.graph_mode = graphs ? GraphMode::kCapture : GraphMode::kOff;
    const auto t_create = Clock::now();
    auto engine = Engine::create(cfg, m, *be);
    DS_CHECK(engine.ok()) << engine.status().message();
    const double create_s = std::chrono::duration<double>(Clock::now() - t_create).count();
    run_request(**engine, "warmup", prompt, 8);
    const std::vector<double> at = run_request(**engine, "bench", prompt, output);
    DS_CHECK_EQ(int64_t(at.size()), int64_t(output));
    const double decode_s = (at.back() - at.front()) / double(output - 1);
    engine->reset();  // the engine thread must not share the backend's stream with the loop below
    const double fwd_ms = forward_only_ms(c, m.weights, *be, int32_t(avg_ctx), graphs);
    j[graphs ? "graphs" : "eager"] = {{"engine_create_s", create_s}, {"ttft_ms", at.front() * 1e3},
                                      {"decode_ms_per_token", decode_s * 1e3}, {"decode_tok_s", 1.0 / decode_s},
                                      {"ratio_to_bandwidth_limit", limit_s / decode_s}, {"forward_only_ms", fwd_ms},
                                      {"forward_only_ratio_to_limit", limit_s * 1e3 / fwd_ms},
                                      {"start_to_ready_s", host_s + upload_s + create_s}};
  }
  j["graphs_speedup"] = j["eager"]["decode_ms_per_token"].get<double>() / j["graphs"]["decode_ms_per_token"].get<double>();
  {  // default sizing: KV = total * 0.9 - in use - graphs
    EngineConfig cfg;
    const auto t_create = Clock::now();
    auto engine = Engine::create(cfg, m, *be);
    DS_CHECK(engine.ok()) << engine.status().message();
    const double create_s = std::chrono::duration<double>(Clock::now() - t_create).count();
    run_request(**engine, "sized", prompt, 64);
    const MemoryInfo mi = be->memory_info();
    const double used = double(mi.total - mi.free), budget = 0.9 * double(mi.total);
    j["sized_engine"] = {{"engine_create_s", create_s}, {"kv_blocks", (*engine)->num_kv_blocks()},
                         {"max_model_len", (*engine)->max_model_len()}, {"used_GiB", used / double(1ull << 30)},
                         {"budget_GiB", budget / double(1ull << 30)}, {"within_budget", used <= budget},
                         {"start_to_ready_s", host_s + upload_s + create_s}};
  }
  {  // prefill of one 2,048-token prompt vs the bf16 matmul rate measured here
    const int32_t p = 2048;
    const double rate = measure_matmul_rate(*be);
    const double ms = prefill_ms(c, m.weights, *be, p);
    const double h = double(c.hidden_size), inter = double(c.intermediate_size);
    const double per_token = h * double(c.q_size() + 2 * c.kv_size()) + double(c.q_size()) * h + 3.0 * h * inter;
    const double proj = 2.0 * double(p) * per_token * double(c.num_hidden_layers) + 2.0 * h * double(c.vocab_size);
    const double attn = 4.0 * double(c.num_attention_heads) * double(c.head_dim) * (double(p) * (p + 1) / 2.0) *
                        double(c.num_hidden_layers);  // causal QK^T and PV
    j["prefill"] = {{"tokens", p}, {"ms", ms}, {"tflops", (proj + attn) / (ms * 1e-3) / 1e12},
                    {"matmul_rate_tflops", rate / 1e12}, {"ratio_to_matmul_rate", (proj + attn) / (ms * 1e-3) / rate}};
  }
  std::printf("%s\n", j.dump(1).c_str());
  return 0;
}

}  // namespace
}  // namespace ds

int main(int argc, char** argv) { return ds::run(argc, argv); }
