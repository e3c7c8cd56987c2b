#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

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
}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& cfg, const LoadedModel& model, Backend& backend) {
  if (cfg.block_size <= 0 || cfg.block_size > 1024) return invalid_argument("--block-size must be in [1, 1024]");
  const SchedulerConfig& s = cfg.scheduler;
  if (s.max_num_seqs < 1) return invalid_argument("--max-num-seqs must be >= 1");
  if (s.max_num_batched_tokens < s.max_num_seqs)
    return invalid_argument("--max-num-batched-tokens (" + std::to_string(s.max_num_batched_tokens) +
                            ") must be >= --max-num-seqs (" + std::to_string(s.max_num_seqs) + ")");
  const size_t per_block = KvCache::bytes_per_token(model.config, backend.activation_dtype()) * size_t(cfg.block_size);
  int64_t blocks = cfg.num_kv_blocks;
  if (blocks <= 0) blocks = int64_t(cfg.kv_cache_memory_gib * double(1ull << 30) / double(per_block));
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
  return std::unique_ptr<Engine>(new Engine(cfg, model, backend, int32_t(blocks), int32_t(max_len)));
}

Engine::Engine(const EngineConfig& cfg, const LoadedModel& model, Backend& backend, int32_t num_blocks, int32_t max_len)
    : cfg_(cfg),
      model_(model),
      backend_(backend),
      num_blocks_(num_blocks),
      max_model_len_(max_len),
      eos_ids_(eos_ids_of(model)),
      blocks_(num_blocks, cfg.block_size, cfg.enable_prefix_caching),
      kv_(backend, model.config, num_blocks, cfg.block_size),
      decoder_(model.config, model.weights, backend, cfg.scheduler.max_num_batched_tokens, cfg.scheduler.max_num_seqs),
      runner_(decoder_, kv_),
      scheduler_(
          [&] {
            SchedulerConfig s = cfg.scheduler;
            s.kv_bytes_per_block = kv_.bytes_per_block();
            s.swap_space_bytes = size_t(cfg.swap_space_gib * double(1ull << 30));
            return s;
          }(),
          blocks_),
      seed_rng_(cfg.seed),
      device_sampler_(sampler_of(backend)) {
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
// on the device when the backend has a sampler), publish stats, emit.
bool Engine::step() {
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) {
    publish_stats();
    return false;
  }
  move_kv(out);
  if (device_sampler_) {
    const Tensor logits = runner_.execute_on_device(out);
    sample_on_device(update(out), logits);
  } else {
    const std::vector<float>& logits = runner_.execute(out);
    sample_on_host(update(out), logits);
  }
  stats_.steps_total++;
  stats_.batched_tokens_total += out.num_batched_tokens;
  publish_stats();  // before the events: a client that saw its last event sees counters including it
  emit_touched();
  return true;
}

}  // namespace ds
