#pragma once
// Tensor: a non-owning, row-major, contiguous view (pointer + dtype + shape). Whoever allocated
// the memory (a mmap'd safetensors file, a Buffer, a backend arena) owns it and outlives the view.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "common/check.h"
#include "core/dtype.h"

namespace ds {

struct Tensor {
  static constexpr int kMaxDims = 4;
  void* data = nullptr;
  DType dtype = DType::kF32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};

  Tensor() = default;
  Tensor(void* d, DType t, std::initializer_list<int64_t> dims) : data(d), dtype(t) {
    DS_CHECK_LE(dims.size(), size_t(kMaxDims));
    for (int64_t v : dims) shape[ndim++] = v;
  }
  Tensor(const void* d, DType t, std::initializer_list<int64_t> dims)
      : Tensor(const_cast<void*>(d), t, dims) {}

  bool defined() const { return data != nullptr; }
  int64_t dim(int i) const {
    if (i < 0) i += ndim;
    DS_CHECK(i >= 0 && i < ndim) << "dim " << i << " of " << ndim;
    return shape[size_t(i)];
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[size_t(i)];
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  template <class T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
  // Row r of a 2-D (or the leading dim of an N-D) tensor.
  Tensor row(int64_t r) const {
    DS_CHECK(ndim >= 1 && r >= 0 && r < shape[0]) << "row " << r << " of " << shape_str();
    Tensor t = *this;
    t.ndim = ndim - 1;
    for (int i = 0; i + 1 < ndim; ++i) t.shape[size_t(i)] = shape[size_t(i + 1)];
    t.data = static_cast<char*>(data) + size_t(r) * t.nbytes();
    return t;
  }
  // Columns [col0, col0 + n) of a one-row 2-D tensor (still contiguous: a [1, cols] view), e.g. q,
  // k and v inside a fused projection's output.
  Tensor cols(int64_t col0, int64_t n) const {
    DS_CHECK(ndim == 2 && shape[0] == 1 && col0 >= 0 && n >= 0 && col0 + n <= shape[1])
        << "columns " << col0 << "+" << n << " of " << shape_str();
    return Tensor(static_cast<char*>(data) + size_t(col0) * dtype_size(dtype), dtype, {1, n});
  }
  std::string shape_str() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[size_t(i)]);
    return s + "]";
  }
};

}  // namespace ds
