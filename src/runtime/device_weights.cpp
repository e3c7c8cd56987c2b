#include "runtime/device_weights.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

namespace ds {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kStagingBytes = size_t(16) << 20;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Every weight view of `w` with the dtype it should have on the device.
struct Slot {
  const Tensor* src;
  Tensor* dst;
  bool matmul;  // matrix or bias (converted to the matmul dtype); false: norm weight (kept)
  bool glue = false;  // placed right after the previous slot (no padding): q|k|v and gate|up fuse
};

std::vector<Slot> slots_of(const ModelWeights& src, ModelWeights& dst) {
  std::vector<Slot> s = {{&src.embed_tokens, &dst.embed_tokens, true},
                         {&src.norm, &dst.norm, false},
                         {&src.lm_head, &dst.lm_head, true}};
  dst.layers.resize(src.layers.size());
  for (size_t l = 0; l < src.layers.size(); ++l) {
    const LayerWeights& a = src.layers[l];
    LayerWeights& b = dst.layers[l];
    s.push_back({&a.input_layernorm, &b.input_layernorm, false});
    s.push_back({&a.post_attention_layernorm, &b.post_attention_layernorm, false});
    // k/v follow q, their biases follow q's bias and up follows gate without padding, so each group
    // is one [sum N, K] matrix in device memory (Decoder fuses them: one matmul each).
    for (auto [x, y, glue] : {std::tuple{&a.q_proj, &b.q_proj, false}, {&a.k_proj, &b.k_proj, true},
                              {&a.v_proj, &b.v_proj, true}, {&a.q_bias, &b.q_bias, false},
                              {&a.k_bias, &b.k_bias, true}, {&a.v_bias, &b.v_bias, true},
                              {&a.o_proj, &b.o_proj, false}, {&a.gate_proj, &b.gate_proj, false},
                              {&a.up_proj, &b.up_proj, true}, {&a.down_proj, &b.down_proj, false}})
      s.push_back({x, y, true, glue});
  }
  return s;
}

float load_f32(const uint8_t* p, DType t) {
  uint16_t h;
  switch (t) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::kBF16: std::memcpy(&h, p, 2); return bf16_to_f32(h);
    case DType::kF16: std::memcpy(&h, p, 2); return f16_to_f32(h);
    default: DS_CHECK(false) << "weight dtype " << dtype_name(t);
  }
  return 0.f;
}

void store_from_f32(float f, uint8_t* p, DType t) {
  uint16_t h;
  switch (t) {
    case DType::kF32: std::memcpy(p, &f, 4); return;
    case DType::kBF16: h = f32_to_bf16(f); std::memcpy(p, &h, 2); return;
    case DType::kF16: h = f32_to_f16(f); std::memcpy(p, &h, 2); return;
    default: DS_CHECK(false) << "weight dtype " << dtype_name(t);
  }
}

// Copies `src` (host) into device memory at `dst` as dtype `to`, converting chunk by chunk.
void upload_tensor(Backend& be, const Tensor& src, void* dst, DType to, std::vector<uint8_t>& staging) {
  if (src.dtype == to) {
    be.copy_to_device(dst, src.data, src.nbytes());  // straight from the mmap
    return;
  }
  const size_t in_sz = dtype_size(src.dtype), out_sz = dtype_size(to);
  const size_t per_chunk = kStagingBytes / std::max(in_sz, out_sz);
  staging.resize(per_chunk * out_sz);
  const uint8_t* in = static_cast<const uint8_t*>(src.data);
  uint8_t* out = static_cast<uint8_t*>(dst);
  const size_t n = size_t(src.numel());
  for (size_t begin = 0; begin < n; begin += per_chunk) {
    const size_t m = std::min(per_chunk, n - begin);
    for (size_t i = 0; i < m; ++i) store_from_f32(load_f32(in + (begin + i) * in_sz, src.dtype), &staging[i * out_sz], to);
    be.copy_to_device(out + begin * out_sz, staging.data(), m * out_sz);
  }
}

}  // namespace

ModelWeights upload_weights(const ModelWeights& host, Backend& backend, DType matmul_dtype) {
  if (backend.name() == "cpu") return host;
  ModelWeights dev;
  std::vector<Slot> slots = slots_of(host, dev);
  // Plan: one offset per distinct (source pointer, target dtype); undefined views stay undefined.
  // A glued slot goes right after the previous slot when both are freshly placed (16-byte aligned
  // ends only, so the matmul keeps vector alignment); otherwise at the next 256-byte boundary.
  std::map<std::pair<const void*, DType>, size_t> offset_of;
  size_t total = 0, prev_end = 0;
  bool prev_fresh = false;
  for (const Slot& s : slots) {
    if (!s.src->defined()) {
      prev_fresh = false;
      continue;
    }
    const DType to = s.matmul ? matmul_dtype : s.src->dtype;
    const size_t bytes = size_t(s.src->numel()) * dtype_size(to);
    const bool glued = s.glue && prev_fresh && prev_end % 16 == 0;
    const size_t at = glued ? prev_end : total;
    auto [it, fresh] = offset_of.try_emplace({s.src->data, to}, at);
    if (fresh) {
      total = align_up(at + bytes);
      prev_end = at + bytes;
    }
    prev_fresh = fresh;
  }
  auto buffer = std::shared_ptr<DeviceBuffer>(backend.alloc(std::max<size_t>(total, 1)));
  uint8_t* base = static_cast<uint8_t*>(buffer->data());
  std::vector<uint8_t> staging;
  std::map<size_t, bool> done;
  for (const Slot& s : slots) {
    if (!s.src->defined()) continue;
    const DType to = s.matmul ? matmul_dtype : s.src->dtype;
    const size_t off = offset_of.at({s.src->data, to});
    *s.dst = *s.src;
    s.dst->data = base + off;
    s.dst->dtype = to;
    if (!done[off]) upload_tensor(backend, *s.src, base + off, to, staging);
    done[off] = true;
  }
  backend.synchronize();
  dev.storage = buffer;
  return dev;
}

Tensor fused_rows(std::initializer_list<const Tensor*> parts) {
  const Tensor* first = *parts.begin();
  if (!first->defined() || first->ndim < 1 || first->ndim > 2) return Tensor();
  const uint8_t* next = static_cast<const uint8_t*>(first->data);
  int64_t rows = 0;
  for (const Tensor* p : parts) {
    if (!p->defined() || p->dtype != first->dtype || p->ndim != first->ndim || p->data != next) return Tensor();
    if (p->ndim == 2 && p->dim(1) != first->dim(1)) return Tensor();
    rows += p->dim(0);
    next += p->nbytes();
  }
  return first->ndim == 2 ? Tensor(first->data, first->dtype, {rows, first->dim(1)})
                          : Tensor(first->data, first->dtype, {rows});
}

size_t weight_bytes(const ModelWeights& w) {
  ModelWeights scratch;
  std::map<const void*, size_t> seen;
  for (const Slot& s : slots_of(w, scratch))
    if (s.src->defined()) seen[s.src->data] = s.src->nbytes();
  size_t n = 0;
  for (auto& [p, b] : seen) n += b;
  return n;
}

}  // namespace ds
