// CUDA matmul (skinny decode kernel for T <= 2, cuBLASLt otherwise) against the CPU reference: bf16
// x and w, with and without bias, bf16 and fp32 (logits) output, decode and prefill row counts, odd N.
#include <algorithm>

#include "backend/cuda/cublaslt_matmul.h"
#include "backend/cuda/cuda_kernels.h"
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
                       Case{3, 896, 130},
                       // cuBLASLt plans are shared by the row counts of one bucket (here 1024 and
                       // 144): a plan made for one count serves a smaller and a larger one after it
                       Case{1000, 896, 1152}, Case{961, 896, 1152}, Case{1024, 896, 1152},
                       Case{140, 18944, 512}, Case{129, 18944, 512}, Case{144, 18944, 512}}) {
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

// A one-row skinny launch dealt over every SM (the decode path; its row tail pipelined) gives the
// same bits as the batch-invariant launch of the same row (not dealt; the serial row tail where
// k >= 3,072), stored (bf16 / fp32, with and without bias) and added into the residual: the sums'
// order does not depend on the form. Shapes of the 1.5B's o_proj and down_proj, a partial last
// chunk (k = 904), one word (k = 8), odd N.
TEST(GpuOps, SkinnyFormsAgree) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  int sms = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  struct Case { int64_t k, n; };
  for (const Case c : {Case{1536, 1536}, Case{8960, 1536}, Case{904, 77}, Case{8, 33}, Case{3584, 515}}) {
    SCOPED_TRACE("k " + std::to_string(c.k) + " n " + std::to_string(c.n));
    std::vector<float> x = random_bf16_values(rng, size_t(c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(c.n * c.k), -0.1f, 0.1f);
    std::vector<float> b = random_bf16_values(rng, size_t(c.n)), res = random_bf16_values(rng, size_t(c.n), -4.f, 4.f);
    DevTensor dx = upload_bf16(x, {1, c.k}), dw = upload_bf16(w, {c.n, c.k}), db = upload_bf16(b, {c.n});
    const auto* xp = static_cast<const cuda::bf16*>(dx.t.data);
    const auto* wp = static_cast<const cuda::bf16*>(dw.t.data);
    for (DType out_dt : {DType::kBF16, DType::kF32}) {
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(out_dt)) + (with_bias ? " bias" : ""));
        DevTensor dealt = poisoned(out_dt, {1, c.n}), plain = poisoned(out_dt, {1, c.n});
        const void* bias = with_bias ? db.t.data : nullptr;
        cuda::launch_skinny_matmul(xp, wp, bias, DType::kBF16, dealt.t.data, out_dt, 1, c.n, c.k, sms, nullptr);
        cuda::launch_invariant_matmul(xp, wp, bias, DType::kBF16, plain.t.data, out_dt, 1, c.n, c.k, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> got = download(dealt.t), ref = download(plain.t);
        EXPECT_EQ(bit_differences(got, ref), 0) << "dealt launch differs from the invariant one";
        EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](float v) { return std::isfinite(v); }));
      }
    }
    DevTensor dealt = upload(res, DType::kF32, {1, c.n}), plain = upload(res, DType::kF32, {1, c.n});
    cuda::launch_skinny_matmul_add(xp, wp, static_cast<float*>(dealt.t.data), 1, c.n, c.k, sms, nullptr);
    cuda::launch_invariant_matmul_add(xp, wp, static_cast<float*>(plain.t.data), 1, c.n, c.k, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(bit_differences(download(dealt.t), download(plain.t)), 0) << "add: dealt launch differs from the invariant one";
  }
}

// The fused gate/up + SwiGLU op of a decode row: CUDA's one kernel against the CPU reference (the
// default: matmul, then silu_mul) and bit for bit against CUDA's own two-kernel default; shapes of
// the 1.5B and 7B MLPs, the unroll tail, K with a remainder word loop and odd I.
TEST(GpuOps, GateUpSilu) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t k, i; };
  for (const Case c : {Case{1536, 8960}, Case{3584, 1000}, Case{8, 77}, Case{904, 33}, Case{2056, 1}}) {
    SCOPED_TRACE("k " + std::to_string(c.k) + " i " + std::to_string(c.i));
    std::vector<float> x = random_bf16_values(rng, size_t(c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(2 * c.i * c.k), -0.1f, 0.1f);
    DevTensor dx = upload_bf16(x, {1, c.k}), dw = upload_bf16(w, {2 * c.i, c.k});
    DevTensor scratch = poisoned(DType::kBF16, {1, 2 * c.i}), fused = poisoned(DType::kBF16, {1, c.i});
    DevTensor scratch2 = poisoned(DType::kBF16, {1, 2 * c.i}), two = poisoned(DType::kBF16, {1, c.i});
    gpu().ops().gate_up_silu(dx.t, dw.t, scratch.t, fused.t);
    gpu().ops().Ops::gate_up_silu(dx.t, dw.t, scratch2.t, two.t);
    const std::vector<float> got = download(fused.t), unfused = download(two.t);
    const std::vector<float> ref = gate_up_silu_reference(x, to_bf16(w), c.k, c.i);
    EXPECT_LT(rel_error(got, ref), kBf16Tol);
    ASSERT_EQ(got.size(), unfused.size());
    EXPECT_EQ(bit_differences(got, unfused), 0) << "fused kernel differs from matmul + silu_mul";
  }
}

// The same op for several rows (prefill, batched decode): one matmul into the [T, 2I] scratch, then
// one silu_mul pass over each row's halves; against the CPU reference row by row and bit for bit
// against the op's default (silu_mul on each row's two column views). Word and element paths (I % 8).
TEST(GpuOps, GateUpSiluRows) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t t, k, i; };
  for (const Case c : {Case{2, 3584, 1000}, Case{3, 1536, 8960}, Case{37, 904, 33}, Case{300, 64, 16}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " k " + std::to_string(c.k) + " i " + std::to_string(c.i));
    std::vector<float> x = random_bf16_values(rng, size_t(c.t * c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(2 * c.i * c.k), -0.1f, 0.1f);
    DevTensor dx = upload_bf16(x, {c.t, c.k}), dw = upload_bf16(w, {2 * c.i, c.k});
    DevTensor scratch = poisoned(DType::kBF16, {c.t, 2 * c.i}), fused = poisoned(DType::kBF16, {c.t, c.i});
    DevTensor scratch2 = poisoned(DType::kBF16, {c.t, 2 * c.i}), rows = poisoned(DType::kBF16, {c.t, c.i});
    gpu().ops().gate_up_silu(dx.t, dw.t, scratch.t, fused.t);
    gpu().ops().Ops::gate_up_silu(dx.t, dw.t, scratch2.t, rows.t);
    const std::vector<float> got = download(fused.t), by_row = download(rows.t);
    const std::vector<uint16_t> w16 = to_bf16(w);
    std::vector<float> ref;
    for (int64_t r = 0; r < c.t; ++r) {
      const std::vector<float> xr(x.begin() + r * c.k, x.begin() + (r + 1) * c.k);
      const std::vector<float> o = gate_up_silu_reference(xr, w16, c.k, c.i);
      ref.insert(ref.end(), o.begin(), o.end());
    }
    EXPECT_LT(rel_error(got, ref), kBf16Tol);
    EXPECT_EQ(bit_differences(got, by_row), 0) << "one pass over the halves differs from silu_mul per row";
  }
}

// A plan is tuned at its after_calls-th call (MatmulTuning), in the middle of a run of calls: the
// calls around that one still give the product, and an accumulating call's trials go to its scratch,
// never into the residual (each call adds the product once). Shapes no other test uses, so the plans
// are fresh; output poisoned before each checked call.
TEST(GpuOps, MatmulAroundDeferredTuning) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t at = cuda::MatmulTuning{}.after_calls;
  ASSERT_GT(at, 1);
  const int64_t t = 200, k = 136, n = 72;
  std::vector<float> x = random_bf16_values(rng, size_t(t * k));
  std::vector<float> w = random_bf16_values(rng, size_t(n * k), -0.1f, 0.1f);
  DevTensor dx = upload_bf16(x, {t, k}), dw = upload_bf16(w, {n, k});
  std::vector<uint16_t> w16 = to_bf16(w);
  std::vector<float> ref(size_t(t * n));
  cpu_ops().matmul(host_f32(x, {t, k}), Tensor(w16.data(), DType::kBF16, {n, k}), Tensor(), host_f32(ref, {t, n}));
  const std::vector<uint8_t> nan(size_t(t * n) * 4, 0xFF);
  DevTensor out = poisoned(DType::kF32, {t, n});
  for (int64_t call = 1; call <= at + 2; ++call) {
    const bool check = call == 1 || call >= at - 1;
    if (check) gpu().copy_to_device(out.t.data, nan.data(), nan.size());
    gpu().ops().matmul(dx.t, dw.t, Tensor(), out.t);
    if (check) {
      EXPECT_LT(rel_error(download(out.t), ref), kBf16Tol) << "matmul call " << call;
    }
  }
  // matmul_add: another shape (fp32 output with beta = 1 has its own plan)
  const int64_t n2 = 88;
  std::vector<float> w2 = random_bf16_values(rng, size_t(n2 * k), -0.1f, 0.1f);
  DevTensor dw2 = upload_bf16(w2, {n2, k});
  std::vector<uint16_t> w2_16 = to_bf16(w2);
  std::vector<float> ref2(size_t(t * n2));
  cpu_ops().matmul(host_f32(x, {t, k}), Tensor(w2_16.data(), DType::kBF16, {n2, k}), Tensor(), host_f32(ref2, {t, n2}));
  std::vector<float> res(size_t(t * n2));
  std::normal_distribution<float> d(0.f, 1.5f);
  for (float& v : res) v = d(rng);
  DevTensor residual = upload(res, DType::kF32, {t, n2}), scratch = poisoned(DType::kF32, {t, n2});
  // the residual keeps growing by the product: its fp32 rounding stays ~1e-5 of what one call adds
  for (int64_t call = 1; call <= at + 2; ++call) {
    const bool check = call == 1 || call >= at - 1;
    const std::vector<float> before = check ? download(residual.t) : std::vector<float>();
    gpu().ops().matmul_add(dx.t, dw2.t, scratch.t, residual.t);
    if (!check) continue;
    const std::vector<float> after = download(residual.t);
    std::vector<float> added(after.size());
    for (size_t j = 0; j < after.size(); ++j) added[j] = after[j] - before[j];
    EXPECT_LT(rel_error(added, ref2), kBf16Tol) << "matmul_add call " << call << " added something else";
  }
}

}  // namespace
}  // namespace ds::gputest
