// The CPU op table (float32 activations) and the CPU Backend.
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/cpu_matmul.h"

namespace ds {
namespace {

float rms_scale(const float* x, int64_t h, float eps) {
  float ss = 0.f;
  for (int64_t i = 0; i < h; ++i) ss += x[i] * x[i];
  return 1.f / std::sqrt(ss / float(h) + eps);
}

class CpuOps final : public Ops {
 public:
  void embedding(const Tensor& table, const int32_t* ids, Tensor out) override {
    const int64_t h = table.dim(1), v = table.dim(0);
#pragma omp parallel for
    for (int64_t t = 0; t < out.dim(0); ++t) {
      DS_CHECK(ids[t] >= 0 && ids[t] < v) << "token id " << ids[t] << " outside vocab " << v;
      const size_t base = size_t(ids[t]) * size_t(h);
      for (int64_t i = 0; i < h; ++i) out.ptr<float>()[t * h + i] = load_as_f32(table.data, table.dtype, base + size_t(i));
    }
  }

  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor out) override {
    const int64_t h = x.dim(1);
    for (int64_t t = 0; t < x.dim(0); ++t) {
      const float* xr = x.ptr<const float>() + t * h;
      const float r = rms_scale(xr, h, eps);
      for (int64_t i = 0; i < h; ++i) out.ptr<float>()[t * h + i] = xr[i] * r * load_as_f32(w.data, w.dtype, size_t(i));
    }
  }

  void add_rmsnorm(const Tensor& x, Tensor residual, const Tensor& w, float eps, Tensor out) override {
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) residual.ptr<float>()[i] += x.ptr<const float>()[i];
    rmsnorm(residual, w, eps, out);
  }

  void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) override {
    cpu::matmul(x, w, bias, out);
  }

  void matmul_add(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual) override {
    cpu::matmul(x, w, Tensor(), scratch);
    const int64_t n = residual.numel();
    for (int64_t i = 0; i < n; ++i) residual.ptr<float>()[i] += scratch.ptr<const float>()[i];
  }

  void rope(Tensor q, Tensor k, const int32_t* positions, const RopeParams& rope) override {
    const int64_t d = rope.head_dim, half = d / 2;
    // One token's cos and sin, shared by its heads.
    std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
    auto rotate = [&](Tensor x, int64_t t) {
      float* row = x.ptr<float>() + t * x.dim(1);
      for (int64_t h = 0; h < x.dim(1) / d; ++h) {
        float* v = row + h * d;
        for (int64_t i = 0; i < half; ++i) {
          const float c = cos_t[size_t(i)], s = sin_t[size_t(i)];
          const float x1 = v[i], x2 = v[i + half];
          v[i] = x1 * c - x2 * s;
          v[i + half] = x2 * c + x1 * s;
        }
      }
    };
    for (int64_t t = 0; t < q.dim(0); ++t) {
      const float pos = float(positions[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float angle = pos * rope.inv_freq[i];  // float32 as in HF
        cos_t[size_t(i)] = std::cos(angle);
        sin_t[size_t(i)] = std::sin(angle);
      }
      rotate(q, t);
      rotate(k, t);
    }
  }

  void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache,
                const int32_t* slot_mapping) override {
    cpu::store_kv(k, v, k_cache, v_cache, slot_mapping);
  }

  void qkv_rope_store(const Tensor& qkv, Tensor q, const int32_t* positions, const RopeParams& rope, Tensor k_cache,
                      Tensor v_cache, const int32_t* slot_mapping) override {
    const int64_t t = qkv.dim(0), qs = q.dim(1), ks = k_cache.dim(2) * k_cache.dim(3);
    DS_CHECK(qkv.dtype == DType::kF32 && q.dtype == DType::kF32 && q.dim(0) == t && qkv.dim(1) == qs + 2 * ks)
        << qkv.shape_str() << q.shape_str() << k_cache.shape_str();
    std::vector<float> k(size_t(t * ks)), v(size_t(t * ks));
    for (int64_t r = 0; r < t; ++r) {
      const float* row = qkv.ptr<const float>() + r * (qs + 2 * ks);
      std::copy(row, row + qs, q.ptr<float>() + r * qs);
      std::copy(row + qs, row + qs + ks, k.data() + r * ks);
      std::copy(row + qs + ks, row + qs + 2 * ks, v.data() + r * ks);
    }
    rope_store_kv(q, Tensor(k.data(), DType::kF32, {t, ks}), Tensor(v.data(), DType::kF32, {t, ks}), positions, rope,
                  k_cache, v_cache, slot_mapping);
  }

  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                 float scale, Tensor out) override {
    cpu::paged_attention(q, k_cache, v_cache, batch, scale, out);
  }

  void silu_mul(const Tensor& gate, const Tensor& up, Tensor out) override {
    const int64_t n = gate.numel();
    for (int64_t i = 0; i < n; ++i) {
      const float g = gate.ptr<const float>()[i];
      out.ptr<float>()[i] = g / (1.f + std::exp(-g)) * up.ptr<const float>()[i];
    }
  }

  void gather_rows(const Tensor& x, const int32_t* rows, Tensor out) override {
    const size_t row_bytes = size_t(x.dim(1)) * dtype_size(x.dtype);
    for (int64_t i = 0; i < out.dim(0); ++i)
      std::memcpy(static_cast<char*>(out.data) + size_t(i) * row_bytes,
                  static_cast<const char*>(x.data) + size_t(rows[i]) * row_bytes, row_bytes);
  }
};

// From 2 MiB up (the KV cache, activations, dummy weights) a buffer is 2 MiB-aligned and marked for
// transparent huge pages: attention reads the KV cache's scattered blocks with fewer TLB misses
// (one core, 8,192 keys: 1.95 -> 1.72 ms per layer). madvise is a hint: with THP off nothing changes.
class HostBuffer final : public DeviceBuffer {
 public:
  explicit HostBuffer(size_t n) : size_(n) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t align = n >= kHuge ? kHuge : 64, bytes = (n + align - 1) / align * align;
    data_ = n ? std::aligned_alloc(align, bytes) : nullptr;
    DS_CHECK(n == 0 || data_) << "out of host memory allocating " << n << " bytes";
    if (data_ && align == kHuge) madvise(data_, bytes, MADV_HUGEPAGE);
    if (data_) std::memset(data_, 0, n);
  }
  ~HostBuffer() override { std::free(data_); }
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_;
  size_t size_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& o) : kv_dtype_(o.kv_cache_dtype) {
    DS_CHECK(cpu::is_kv_cache_dtype(kv_dtype_)) << "CPU KV cache dtype " << dtype_name(kv_dtype_);
    if (o.num_threads > 0) omp_set_num_threads(o.num_threads);
  }
  std::string name() const override { return "cpu"; }
  Ops& ops() override { return ops_; }
  std::unique_ptr<DeviceBuffer> alloc(size_t bytes) override { return std::make_unique<HostBuffer>(bytes); }
  void copy_to_device(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_on_device(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void synchronize() override {}
  DType activation_dtype() const override { return DType::kF32; }
  DType kv_cache_dtype() const override { return kv_dtype_; }

 private:
  CpuOps ops_;
  DType kv_dtype_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& opts) {
  return std::make_unique<CpuBackend>(opts);
}

}  // namespace ds
