// make_dummy_weights: random weights from the config alone (vLLM's --load-format dummy).
// One 64-byte-aligned allocation holds every tensor. Element values depend only on
// (seed, tensor index, element index), so any split of the work across threads gives the same bytes;
// a 7B model in bf16 is ~15 GB, so the fill runs on all cores in 1M-element chunks.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "model/weight_layout.h"
#include "model/weights.h"

namespace ds {

namespace {

constexpr size_t kAlign = 64;
constexpr int64_t kChunk = int64_t(1) << 20;  // elements per work item
// Matrices ~U[-0.02, 0.02]: with RMSNorm before every block a projection of width n has output std
// ~0.02 * sqrt(n / 3) (0.7 for n = 3584, 1.9 for n = 28672), so the residual stream grows only
// additively over the layers and stays finite in bf16 for every built-in size.
constexpr float kMatrixScale = 0.02f;
constexpr float kBiasScale = 0.01f;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Chunk {
  size_t tensor;
  int64_t begin, end;  // element range
};

// Every random element is one of 65536 levels uniform in [-scale, scale]; a table of those levels
// already converted to the output dtype turns the inner loop into hash + four table lookups
// (float conversion and bf16 rounding per element cost 6x more).
struct LevelTables {
  std::vector<uint8_t> matrix, bias;  // 65536 values of the output dtype each
};

std::vector<uint8_t> make_levels(DType dt, float scale) {
  std::vector<uint8_t> t(65536 * dtype_size(dt));
  const float mul = 2.0f * scale / 65535.0f;
  for (uint32_t b = 0; b < 65536; ++b) {
    const float v = float(b) * mul - scale;
    if (dt == DType::kF32) {
      std::memcpy(&t[b * 4], &v, 4);
    } else {
      const uint16_t h = dt == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(&t[b * 2], &h, 2);
    }
  }
  return t;
}

// One 64-bit hash yields four 16-bit levels: element i uses hash (i / 4), lane (i % 4).
template <class T>
void fill_random(T* out, const Chunk& c, uint64_t key, const T* levels) {
  int64_t i = c.begin;  // chunk bounds are multiples of 4 except at a tensor's end
  for (; i + 4 <= c.end; i += 4) {
    const uint64_t h = splitmix64(key + uint64_t(i >> 2));
    out[i] = levels[h & 0xffff];
    out[i + 1] = levels[(h >> 16) & 0xffff];
    out[i + 2] = levels[(h >> 32) & 0xffff];
    out[i + 3] = levels[h >> 48];
  }
  for (; i < c.end; ++i) out[i] = levels[(splitmix64(key + uint64_t(i >> 2)) >> ((i & 3) * 16)) & 0xffff];
}

template <class T>
void fill_typed(const WeightSpec& spec, const Chunk& c, uint64_t key, const LevelTables& lt, T one) {
  T* out = spec.slot->ptr<T>();
  if (spec.kind == WeightKind::kNorm) {
    std::fill(out + c.begin, out + c.end, one);
    return;
  }
  const auto& levels = spec.kind == WeightKind::kBias ? lt.bias : lt.matrix;
  fill_random(out, c, key, reinterpret_cast<const T*>(levels.data()));
}

void fill_chunk(const WeightSpec& spec, size_t tensor_index, const Chunk& c, uint64_t seed,
                const LevelTables& lt) {
  const uint64_t key = splitmix64(seed ^ splitmix64(uint64_t(tensor_index)));
  switch (spec.slot->dtype) {
    case DType::kF32: fill_typed<float>(spec, c, key, lt, 1.0f); break;
    case DType::kBF16: fill_typed<uint16_t>(spec, c, key, lt, f32_to_bf16(1.0f)); break;
    case DType::kF16: fill_typed<uint16_t>(spec, c, key, lt, f32_to_f16(1.0f)); break;
    case DType::kI32: DS_CHECK(false) << "dummy weights need a float dtype"; break;
  }
}

void fill_all(const std::vector<WeightSpec>& specs, DType dtype, uint64_t seed) {
  const LevelTables lt{make_levels(dtype, kMatrixScale), make_levels(dtype, kBiasScale)};
  std::vector<Chunk> chunks;
  for (size_t t = 0; t < specs.size(); ++t) {
    const int64_t n = specs[t].slot->numel();
    for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({t, b, std::min(n, b + kChunk)});
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < chunks.size(); k = next++) {
      fill_chunk(specs[chunks[k].tensor], chunks[k].tensor, chunks[k], seed, lt);
    }
  };
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t nthreads = std::min(hw, chunks.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < nthreads; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& th : threads) th.join();
}

}  // namespace

ModelWeights make_dummy_weights(const ModelConfig& cfg, DType dtype, uint64_t seed) {
  DS_CHECK(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16)
      << "dummy weights need a float dtype, got " << dtype_name(dtype);
  ModelWeights w;
  std::vector<WeightSpec> specs = weight_specs(cfg, &w);
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const WeightSpec& s : specs) {
    offsets.push_back(total);
    size_t n = dtype_size(dtype);
    for (int64_t d : s.shape) n *= size_t(d);
    total += (n + kAlign - 1) / kAlign * kAlign;
  }
  void* base = std::aligned_alloc(kAlign, std::max(total, kAlign));
  DS_CHECK(base != nullptr) << "cannot allocate " << total << " bytes of dummy weights";
  w.storage = std::shared_ptr<void>(base, [](void* p) { std::free(p); });
  for (size_t i = 0; i < specs.size(); ++i) {
    Tensor& t = *specs[i].slot;
    t = Tensor();
    t.data = static_cast<char*>(base) + offsets[i];
    t.dtype = dtype;
    for (int64_t d : specs[i].shape) t.shape[size_t(t.ndim++)] = d;
  }
  fill_all(specs, dtype, seed);
  if (cfg.tie_word_embeddings) w.lm_head = w.embed_tokens;
  return w;
}

}  // namespace ds
