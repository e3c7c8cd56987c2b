#pragma once
// Helpers for the GPU op tests: one CUDA backend and one CPU backend for the whole binary, random
// bf16-representable inputs (so the CPU reference sees exactly the GPU's input values), device
// buffers poisoned with NaN before an op writes them, and the normalized error ||out-ref||/||ref||.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"

namespace ds::gputest {

inline Backend& gpu() {
  static std::unique_ptr<Backend> be = make_cuda_backend({});
  return *be;
}
inline Ops& cpu_ops() {
  static std::unique_ptr<Backend> be = make_cpu_backend({});
  return be->ops();
}

// Seed from the clock unless DS_TEST_SEED is set; tests print it (SCOPED_TRACE) so failures reproduce.
inline uint64_t test_seed() {
  if (const char* s = std::getenv("DS_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  static std::random_device rd;
  return (uint64_t(rd()) << 32) | rd();
}

// Uniform values in [lo, hi), rounded to bf16 so that f32 and bf16 copies hold the same numbers.
inline std::vector<float> random_bf16_values(std::mt19937_64& rng, size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(d(rng)));
  return v;
}

inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
  return o;
}

inline std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = bf16_to_f32(v[i]);
  return o;
}

// A device buffer with a typed view; sized at least 1 byte so empty tensors still get a pointer.
struct DevTensor {
  std::unique_ptr<DeviceBuffer> buf;
  Tensor t;
};

template <class T>
DevTensor upload(const std::vector<T>& host, DType dt, std::initializer_list<int64_t> dims) {
  DevTensor d;
  d.buf = gpu().alloc(std::max<size_t>(host.size() * sizeof(T), 16));
  gpu().copy_to_device(d.buf->data(), host.data(), host.size() * sizeof(T));
  d.t = Tensor(d.buf->data(), dt, dims);
  return d;
}

inline DevTensor upload_bf16(const std::vector<float>& host, std::initializer_list<int64_t> dims) {
  return upload(to_bf16(host), DType::kBF16, dims);
}

// An output buffer filled with 0xFF bytes (NaN in bf16 and f32): unwritten elements fail the check.
inline DevTensor poisoned(DType dt, std::initializer_list<int64_t> dims) {
  Tensor shape(static_cast<void*>(nullptr), dt, dims);
  std::vector<uint8_t> nan(shape.nbytes(), 0xFF);
  return upload(nan, dt, dims);
}

inline std::vector<float> download(const Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  if (t.dtype == DType::kF32) {
    gpu().copy_to_host(out.data(), t.data, t.nbytes());
  } else {
    std::vector<uint16_t> raw(size_t(t.numel()));
    gpu().copy_to_host(raw.data(), t.data, t.nbytes());
    for (size_t i = 0; i < raw.size(); ++i) out[i] = load_as_f32(raw.data(), t.dtype, i);
  }
  return out;
}

// ||out - ref|| / ||ref||; infinity if any element of out is not finite or the sizes differ.
inline double rel_error(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += double(out[i] - ref[i]) * double(out[i] - ref[i]);
    den += double(ref[i]) * double(ref[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Elements whose bits differ (-1 if the sizes differ): for checks that two paths agree bit for bit.
inline int64_t bit_differences(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

inline Tensor host_f32(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  return Tensor(v.data(), DType::kF32, dims);
}

// bf16 storage bound: one rounding of the output (2^-9 relative) plus fp32 accumulation differences.
constexpr double kBf16Tol = 1e-2;

// v rounded to bf16 and back: what a bf16 activation buffer holds.
inline std::vector<float> bf16_rounded(const std::vector<float>& v) { return from_bf16(to_bf16(v)); }

// The CPU reference of the SwiGLU half of an MLP row with the storage a bf16 backend has: x [1, k]
// (bf16-exact values) @ w_gate_up [2i, k]^T rounded to bf16 (the gate_up buffer), then silu(g) * u.
// Without the intermediate rounding, a handful of outputs (small i) can differ from the reference by
// more than one output rounding although every step is right.
inline std::vector<float> gate_up_silu_reference(std::vector<float> x, const std::vector<uint16_t>& w16, int64_t k,
                                                 int64_t i) {
  std::vector<float> gu(size_t(2 * i));
  cpu_ops().matmul(host_f32(x, {1, k}), Tensor(w16.data(), DType::kBF16, {2 * i, k}), Tensor(), host_f32(gu, {1, 2 * i}));
  gu = bf16_rounded(gu);
  std::vector<float> g(gu.begin(), gu.begin() + i), u(gu.begin() + i, gu.end());
  std::vector<float> out(static_cast<size_t>(i));
  cpu_ops().silu_mul(host_f32(g, {1, i}), host_f32(u, {1, i}), host_f32(out, {1, i}));
  return out;
}

}  // namespace ds::gputest
