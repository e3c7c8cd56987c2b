// CUDA matmul (skinny decode kernel for T <= 2, cuBLASLt otherwise) against the CPU reference: bf16
// x and w, with and without bias, bf16 and fp32 (logits) output, decode and prefill row counts, odd N.
#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

TEST(GpuOps, Matmul) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t t, k, n; };
  for (const Case c : {Case{1, 896, 1152}, Case{7, 1536, 256}, Case{33, 64, 100}, Case{128, 3584, 512},
                       Case{0, 896, 128}, Case{300, 896, 4864}, Case{2, 896, 151936 / 8 + 1},
                       // the skinny decode kernel (T <= 2, K % 8 == 0), its unroll tail and K % 8 != 0 (cuBLASLt)
                       Case{1, 3584, 515}, Case{2, 18944, 64}, Case{1, 8, 33}, Case{2, 1544, 1001}, Case{1, 900, 77},
                       Case{3, 896, 130}}) {
    for (bool with_bias : {false, true}) {
      for (DType out_dt : {DType::kBF16, DType::kF32}) {
        SCOPED_TRACE("t " + std::to_string(c.t) + " k " + std::to_string(c.k) + " n " + std::to_string(c.n) +
                     (with_bias ? " bias " : " ") + std::string(dtype_name(out_dt)));
        std::vector<float> x = random_bf16_values(rng, size_t(c.t * c.k));
        std::vector<float> w = random_bf16_values(rng, size_t(c.n * c.k), -0.1f, 0.1f);
        std::vector<float> b = random_bf16_values(rng, size_t(c.n));
        DevTensor dx = upload_bf16(x, {c.t, c.k}), dw = upload_bf16(w, {c.n, c.k});
        DevTensor db = out_dt == DType::kBF16 ? upload_bf16(b, {c.n}) : upload(b, DType::kF32, {c.n});
        DevTensor out = poisoned(out_dt, {c.t, c.n});
        gpu().ops().matmul(dx.t, dw.t, with_bias ? db.t : Tensor(), out.t);
        std::vector<uint16_t> w16 = to_bf16(w);
        std::vector<float> ref(size_t(c.t * c.n));
        cpu_ops().matmul(host_f32(x, {c.t, c.k}), Tensor(w16.data(), DType::kBF16, {c.n, c.k}),
                         with_bias ? host_f32(b, {c.n}) : Tensor(), host_f32(ref, {c.t, c.n}));
        EXPECT_LT(rel_error(download(out.t), ref), kBf16Tol);
      }
    }
  }
}

}  // namespace
}  // namespace ds::gputest
