#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "runtime/device_weights.h"

namespace ds {

namespace {
// DS_HOST_SAMPLING=1 samples on the host even where the backend has a sampler (same-card
// before/after timings of device sampling).
DeviceSampler* sampler_of(Backend& backend) {
  const char* host = std::getenv("DS_HOST_SAMPLING");
  return host && *host && *host != '0' ? nullptr : backend.sampler();
}

std::vector<int32_t> eos_ids_of(const LoadedModel& m) {
  std::vector<int32_t> ids;
  for (int64_t e : m.generation.eos_token_ids) ids.push_back(int32_t(e));
  if (ids.empty())
    for (int64_t e : m.config.eos_token_ids) ids.push_back(int32_t(e));
  if (ids.empty() && m.tokenizer && m.tokenizer->eos_token_id()) ids.push_back(*m.tokenizer->eos_token_id());
  return ids;
}
GraphMode effective_graph_mode(const EngineConfig& cfg, const Backend& be) {
  return cfg.graph_mode == GraphMode::kCapture && !be.supports_graphs() ? GraphMode::kOff : cfg.graph_mode;
}

double gib(double bytes) { return bytes / double(1ull << 30); }

void log_line(const EngineConfig& cfg, const std::string& line) {
  if (cfg.log) cfg.log(line);
  else std::fprintf(stderr, "dsserve: %s\n", line.c_str());
}

// Device backends without an explicit --num-kv-blocks / --kv-cache-memory: the KV cache gets what is
// left of total * utilization after everything this process (and any other) holds, measured after
// the weights, the decoder's activations, one profiling forward at max_num_batched_tokens and (with
// graphs) one recorded graph, scaled to the number of graph sizes.
struct DeviceSizing {
  int64_t blocks = 0;
  double weights = 0, activations = 0, graphs = 0, kv = 0, total = 0, budget = 0;
};

Result<DeviceSizing> size_device_kv(const EngineConfig& cfg, const LoadedModel& model, Backend& be, Decoder& dec,
                                    size_t per_block, bool graphs) {
  DeviceSizing z;
  const MemoryInfo m0 = be.memory_info();
  z.total = double(m0.total);
  z.weights = double(weight_bytes(model.weights));
  if (DeviceSampler* sampler = sampler_of(be)) {  // its buffers at their largest, before the budget
    sampler->reserve(cfg.scheduler.max_num_seqs, model.config.vocab_size);
  }
  {
    KvCache probe(be, model.config, 1, cfg.block_size);
    const MemoryInfo before = be.memory_info();
    dec.profile_forward(probe);
    const MemoryInfo after_profile = be.memory_info();
    // Activations were allocated by the Decoder before m0; the profile adds workspaces (if any).
    z.activations = double(before.free) - double(after_profile.free);
    if (graphs) {
      // Input buffers at the widest stride max_model_len can get (the engine's are no larger).
      const int64_t len = cfg.max_model_len > 0 ? cfg.max_model_len : model.config.max_position_embeddings;
      const int32_t stride = int32_t((len + cfg.block_size - 1) / cfg.block_size);
      dec.set_graphs({GraphMode::kCapture, cfg.scheduler.max_num_seqs, stride});
      const MemoryInfo g0 = be.memory_info();
      dec.capture_graphs(probe, /*only_largest=*/true);
      const MemoryInfo g1 = be.memory_info();
      // At least 2 MiB a graph (measured: ~1.3 MiB each for 28 layers); a probe recorded into memory
      // the driver kept from earlier graphs shows no change.
      const double per_graph = std::max(double(g0.free) - double(g1.free), double(2 << 20));
      z.graphs = per_graph * double(dec.graph_sizes().size());
      dec.set_graphs({GraphMode::kCapture, cfg.scheduler.max_num_seqs, stride});  // drops the probe recording
    }
  }
  const MemoryInfo m1 = be.memory_info();
  z.budget = double(m1.total) * cfg.gpu_memory_utilization;
  // Each layer's K and V is its own allocation, rounded up by the driver (2 MiB granularity).
  const double rounding = double(2 * model.config.num_hidden_layers) * double(2 << 20);
  // The driver's own bookkeeping of a large allocation (page tables) is charged to free memory too:
  // measured ~0.1% on an H200; 0.2% is kept back.
  z.kv = (z.budget - double(m1.total - m1.free) - z.graphs - rounding) * 0.998;
  z.blocks = z.kv > 0 ? int64_t(z.kv / double(per_block)) : 0;
  return z;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& cfg, const LoadedModel& model, Backend& backend) {
  if (cfg.block_size <= 0 || cfg.block_size > 1024) return invalid_argument("--block-size must be in [1, 1024]");
  const SchedulerConfig& s = cfg.scheduler;
  if (s.max_num_seqs < 1) return invalid_argument("--max-num-seqs must be >= 1");
  if (s.max_num_batched_tokens < s.max_num_seqs)
    return invalid_argument("--max-num-batched-tokens (" + std::to_string(s.max_num_batched_tokens) +
                            ") must be >= --max-num-seqs (" + std::to_string(s.max_num_seqs) + ")");
  if (!(cfg.gpu_memory_utilization > 0 && cfg.gpu_memory_utilization <= 1))
    return invalid_argument("--gpu-memory-utilization must be in (0, 1]");
  const size_t per_block = KvCache::bytes_per_token(model.config, backend.kv_cache_dtype()) * size_t(cfg.block_size);
  const MemoryInfo mem = backend.memory_info();
  auto decoder = std::make_unique<Decoder>(model.config, model.weights, backend, s.max_num_batched_tokens, s.max_num_seqs);
  const bool device = mem.total > 0;
  int64_t blocks = cfg.num_kv_blocks;
  if (blocks <= 0 && cfg.kv_cache_memory_gib > 0) blocks = int64_t(cfg.kv_cache_memory_gib * double(1ull << 30) / double(per_block));
  if (blocks <= 0 && !device) blocks = int64_t(2.0 * double(1ull << 30) / double(per_block));
  if (device) {
    DS_ASSIGN_OR_RETURN(DeviceSizing z, size_device_kv(cfg, model, backend, *decoder, per_block,
                                                       effective_graph_mode(cfg, backend) == GraphMode::kCapture));
    if (blocks <= 0 && z.blocks < 1) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%.2f GiB in use + %.2f GiB for graphs leave no KV block within --gpu-memory-utilization %.2f of %.2f GiB",
                    gib(z.budget - z.kv - z.graphs), gib(z.graphs), cfg.gpu_memory_utilization, gib(z.total));
      return invalid_argument(buf);
    }
    if (blocks <= 0) blocks = z.blocks;
    char line[512];
    std::snprintf(line, sizeof line,
                  "memory: %.2f GiB total, budget %.2f GiB (--gpu-memory-utilization %.2f): weights %.2f GiB, "
                  "activations %.2f GiB (a forward at %d tokens added %.3f GiB), graphs %.3f GiB (est.), KV %.2f GiB = "
                  "%lld blocks of %d tokens%s",
                  gib(z.total), gib(z.budget), cfg.gpu_memory_utilization, gib(z.weights),
                  gib(double(mem.free) - double(backend.memory_info().free)), s.max_num_batched_tokens,
                  gib(z.activations), gib(z.graphs), gib(double(blocks) * double(per_block)), (long long)blocks,
                  cfg.block_size, blocks == z.blocks ? "" : " (set by --num-kv-blocks / --kv-cache-memory)");
    log_line(cfg, line);
  }

  if (blocks < 1) return invalid_argument("the KV cache holds no block: raise --kv-cache-memory or --num-kv-blocks");
  const int64_t capacity = blocks * cfg.block_size;
  int64_t max_len = cfg.max_model_len > 0 ? cfg.max_model_len : std::min(model.config.max_position_embeddings, capacity);
  if (max_len > capacity) {
    return invalid_argument("--max-model-len " + std::to_string(max_len) + " exceeds what the KV cache holds (" +
                            std::to_string(capacity) + " tokens in " + std::to_string(blocks) +
                            " blocks): raise --kv-cache-memory / --num-kv-blocks or lower --max-model-len");
  }
  if (max_len > model.config.max_position_embeddings) {
    return invalid_argument("--max-model-len " + std::to_string(max_len) + " exceeds the model's max_position_embeddings " +
                            std::to_string(model.config.max_position_embeddings));
  }
  return std::unique_ptr<Engine>(
      new Engine(cfg, model, backend, std::move(decoder), int32_t(blocks), int32_t(max_len)));
}

Engine::Engine(const EngineConfig& cfg, const LoadedModel& model, Backend& backend, std::unique_ptr<Decoder> decoder,
               int32_t num_blocks, int32_t max_len)
    : cfg_(cfg),
      model_(model),
      backend_(backend),
      num_blocks_(num_blocks),
      max_model_len_(max_len),
      eos_ids_(eos_ids_of(model)),
      decoder_(std::move(decoder)),
      blocks_(num_blocks, cfg.block_size, cfg.enable_prefix_caching),
      kv_(backend, model.config, num_blocks, cfg.block_size),
      runner_(*decoder_, kv_),
      scheduler_(
          [&] {
            SchedulerConfig s = cfg.scheduler;
            s.kv_bytes_per_block = kv_.bytes_per_block();
            s.swap_space_bytes = size_t(cfg.swap_space_gib * double(1ull << 30));
            return s;
          }(),
          blocks_),
      seed_rng_(cfg.seed),
      device_sampler_(sampler_of(backend)),
      defer_text_([] {
        const char* v = std::getenv("DS_NO_DEFER_TEXT");
        return !(v && *v && *v != '0');
      }()) {
  // Graphs are recorded against the final KV cache, with block tables as wide as max_model_len.
  const GraphMode mode = effective_graph_mode(cfg, backend);
  if (mode != GraphMode::kOff) {
    const auto t0 = std::chrono::steady_clock::now();
    const MemoryInfo m0 = backend.memory_info();
    decoder_->set_graphs({mode, cfg.scheduler.max_num_seqs, (max_len + cfg.block_size - 1) / cfg.block_size});
    const int32_t n = decoder_->capture_graphs(kv_);
    const MemoryInfo m1 = backend.memory_info();
    if (n > 0) {
      char line[256];
      std::snprintf(line, sizeof line, "captured %d decode graphs (batch sizes 1..%d) in %.2f s, %.1f MiB; device memory in use %.2f of %.2f GiB",
                    n, decoder_->graph_sizes().back(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    (double(m0.free) - double(m1.free)) / double(1 << 20), gib(double(m1.total - m1.free)), gib(double(m1.total)));
      log_line(cfg, line);
    }
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  stopping_ = true;
  inbox_.push(Abort{""});  // wake the thread
  thread_.join();
}

Result<std::shared_ptr<RequestStream>> Engine::submit(EngineRequest req) {
  const int32_t vocab = int32_t(model_.config.vocab_size);
  const int32_t n = int32_t(req.prompt_ids.size());
  if (n == 0) return invalid_argument("the prompt is empty");
  for (int32_t id : req.prompt_ids)
    if (id < 0 || id >= vocab) return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  DS_RETURN_IF_ERROR(req.params.validate(vocab));
  if (int64_t(n) + req.params.max_tokens > max_model_len_) {
    return invalid_argument("This model's maximum context length is " + std::to_string(max_model_len_) +
                            " tokens. However, you requested " + std::to_string(int64_t(n) + req.params.max_tokens) +
                            " tokens (" + std::to_string(n) + " in the prompt, " + std::to_string(req.params.max_tokens) +
                            " in the completion). Please reduce the prompt or max_tokens.");
  }
  auto st = std::make_shared<RequestState>();
  st->request = std::move(req);
  st->stream = std::make_shared<RequestStream>();
  auto stream = st->stream;
  inbox_.push(Submit{std::move(st)});
  return stream;
}

void Engine::abort(const std::string& request_id) { inbox_.push(Abort{request_id}); }

void Engine::loop() {
  while (!stopping_) {
    while (auto cmd = inbox_.try_pop()) handle(std::move(*cmd));
    if (step()) continue;
    if (auto cmd = inbox_.pop(std::chrono::milliseconds(50))) handle(std::move(*cmd));
  }
  // Shutting down: every request still known (or still queued) gets a final abort event, so no
  // accepted request is left without an answer.
  flush_outputs();
  while (auto cmd = inbox_.try_pop()) handle(std::move(*cmd));
  std::vector<std::string> ids;
  for (const auto& [id, seqs] : requests_) ids.push_back(id);
  for (const std::string& id : ids) abort_request(id);
}

void Engine::handle(Command cmd) {
  if (auto* s = std::get_if<Submit>(&cmd)) return add_request(std::move(s->state));
  const std::string& id = std::get<Abort>(cmd).request_id;
  if (!id.empty()) abort_request(id);
}

// The engine step: schedule, move KV for swaps, forward, update, sample (where the logits are:
// on the device when the backend has a sampler), publish stats, emit. On the device path the
// previous step's text and events are done after this step's forward is launched, so the device
// does not wait for them; sampled ids are applied at once (stop ids and lengths decide the next
// schedule; stop strings are checked at once too).
bool Engine::step() {
  using Clock = std::chrono::steady_clock;
  auto t = Clock::now();
  const auto t0 = t;
  const auto lap = [&t](std::atomic<int64_t>& total) {
    const auto now = Clock::now();
    total += int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count());
    t = now;
  };
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) {
    flush_outputs();
    return false;
  }
  move_kv(out);
  lap(stats_.schedule_ns_total);
  if (device_sampler_) {
    const Tensor logits = runner_.execute_on_device(out);
    lap(stats_.forward_call_ns_total);
    flush_outputs();
    lap(stats_.emit_ns_total);
    const std::vector<ToSample> todo = update(out);
    lap(stats_.update_ns_total);
    sample_on_device(todo, logits);
    lap(stats_.sample_call_ns_total);
    for (size_t i = 0; i < todo.size(); ++i) apply_token(*todo[i].seq, to_sampled_token(sample_results_[i]));
    lap(stats_.apply_ns_total);
  } else {
    const std::vector<float>& logits = runner_.execute(out);
    sample_on_host(update(out), logits);
  }
  stats_.steps_total++;
  stats_.batched_tokens_total += out.num_batched_tokens;
  if (!device_sampler_ || !defer_text_) {
    flush_outputs();  // before the next schedule
    lap(stats_.emit_ns_total);
  }
  t = t0;
  lap(stats_.step_ns_total);
  return true;
}

}  // namespace ds
