// cpu::matmul against its double-precision reference, for every instruction-set path this CPU runs
// (scalar, AVX2 + FMA): f32/bf16/f16 weights, with and without bias, row counts around the
// groups of 4, K around the 8-element blocks and their tails. And batch invariance, the engine's
// guarantee that rests on it: a row's outputs have the same bits alone, in a batch and at another
// place in the batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "backend/cpu/cpu_matmul.h"

namespace ds::cpu {
namespace {

std::vector<MatmulIsa> supported_isas() {
  std::vector<MatmulIsa> v;
  for (MatmulIsa isa : {MatmulIsa::kScalar, MatmulIsa::kAvx2})
    if (matmul_isa_supported(isa)) v.push_back(isa);
  return v;
}

// Weights of dtype dt holding exactly the values in `vals` (rounded to dt first).
std::vector<uint16_t> half_bits(std::vector<float>& vals, DType dt) {
  std::vector<uint16_t> bits(vals.size());
  for (size_t i = 0; i < vals.size(); ++i) {
    bits[i] = dt == DType::kBF16 ? f32_to_bf16(vals[i]) : f32_to_f16(vals[i]);
    vals[i] = load_as_f32(bits.data(), dt, i);
  }
  return bits;
}

TEST(CpuMatmul, EveryPathMatchesReference) {
  std::mt19937_64 rng(20261204);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  const std::vector<MatmulIsa> isas = supported_isas();
  std::cout << "matmul paths tested on this CPU:";
  for (MatmulIsa isa : isas) std::cout << " " << matmul_isa_name(isa);
  std::cout << " (auto: " << matmul_isa_name(MatmulIsa::kAuto) << ")\n";
  for (DType wt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t t : {1, 2, 3, 4, 5, 9}) {
      for (int64_t k : {0, 1, 7, 8, 15, 16, 17, 24, 40, 1539}) {
        for (int64_t n : {1, 33, 70}) {
          for (bool with_bias : {false, true}) {
            std::vector<float> x(size_t(t * k)), w(size_t(n * k)), b(static_cast<size_t>(n));
            for (float& v : x) v = d(rng);
            for (float& v : w) v = d(rng);
            for (float& v : b) v = d(rng);
            std::vector<uint16_t> w16 = wt == DType::kF32 ? std::vector<uint16_t>() : half_bits(w, wt);
            const Tensor tw(wt == DType::kF32 ? static_cast<void*>(w.data()) : static_cast<void*>(w16.data()), wt,
                            {n, k});
            const Tensor tx(x.data(), DType::kF32, {t, k});
            const Tensor tb = with_bias ? Tensor(b.data(), DType::kF32, {n}) : Tensor();
            std::vector<float> ref(size_t(t * n));
            matmul_reference(tx, tw, tb, Tensor(ref.data(), DType::kF32, {t, n}));
            for (MatmulIsa isa : isas) {
              SCOPED_TRACE(std::string(matmul_isa_name(isa)) + " " + std::string(dtype_name(wt)) + " t " +
                           std::to_string(t) + " k " + std::to_string(k) + " n " + std::to_string(n) +
                           (with_bias ? " bias" : ""));
              std::vector<float> out(size_t(t * n), NAN);
              matmul(tx, tw, tb, Tensor(out.data(), DType::kF32, {t, n}), isa);
              for (int64_t r = 0; r < t; ++r) {
                for (int64_t c = 0; c < n; ++c) {
                  // float sums of k products, in any order: within k roundings of the terms' magnitude
                  double mag = with_bias ? std::fabs(b[size_t(c)]) : 0.0;
                  for (int64_t i = 0; i < k; ++i)
                    mag += std::fabs(double(x[size_t(r * k + i)]) * w[size_t(c * k + i)]);
                  const double got = out[size_t(r * n + c)], want = ref[size_t(r * n + c)];
                  ASSERT_LE(std::fabs(got - want), double(k + 2) * 6e-8 * mag + 1e-30) << "row " << r << " col " << c;
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuMatmul, RowBitsDoNotDependOnTheBatch) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  const int64_t t = 11, k = 1543, n = 37;
  std::vector<float> x(size_t(t * k)), w(size_t(n * k));
  for (float& v : x) v = d(rng);
  for (float& v : w) v = d(rng);
  std::vector<uint16_t> w16 = half_bits(w, DType::kBF16);
  const Tensor tw(w16.data(), DType::kBF16, {n, k});
  for (MatmulIsa isa : supported_isas()) {
    SCOPED_TRACE(matmul_isa_name(isa));
    std::vector<float> batch(size_t(t * n));
    matmul(Tensor(x.data(), DType::kF32, {t, k}), tw, Tensor(), Tensor(batch.data(), DType::kF32, {t, n}), isa);
    // The batch reversed: every row at another place, in another group of 4.
    std::vector<float> xr(x.size()), rev(size_t(t * n));
    for (int64_t r = 0; r < t; ++r) std::memcpy(&xr[size_t((t - 1 - r) * k)], &x[size_t(r * k)], size_t(k) * 4);
    matmul(Tensor(xr.data(), DType::kF32, {t, k}), tw, Tensor(), Tensor(rev.data(), DType::kF32, {t, n}), isa);
    for (int64_t r = 0; r < t; ++r) {
      std::vector<float> alone(static_cast<size_t>(n));
      matmul(Tensor(&x[size_t(r * k)], DType::kF32, {1, k}), tw, Tensor(), Tensor(alone.data(), DType::kF32, {1, n}),
             isa);
      EXPECT_EQ(std::memcmp(alone.data(), &batch[size_t(r * n)], size_t(n) * 4), 0) << "row " << r << " alone";
      EXPECT_EQ(std::memcmp(alone.data(), &rev[size_t((t - 1 - r) * n)], size_t(n) * 4), 0) << "row " << r << " moved";
    }
  }
}

TEST(CpuMatmul, AutoIsAPathThisCpuRuns) {
  EXPECT_TRUE(matmul_isa_supported(MatmulIsa::kScalar));
  EXPECT_TRUE(matmul_isa_supported(cpu_isa()));
  const std::string name = matmul_isa_name(MatmulIsa::kAuto);
  EXPECT_EQ(name, matmul_isa_name(cpu_isa()));
  EXPECT_TRUE(name == "scalar" || name == "avx2") << name;
  if (!std::getenv("DS_CPU_ISA")) {  // AVX2 where the CPU has it
    EXPECT_EQ(cpu_isa() == MatmulIsa::kAvx2, matmul_isa_supported(MatmulIsa::kAvx2));
  }
}

}  // namespace
}  // namespace ds::cpu
