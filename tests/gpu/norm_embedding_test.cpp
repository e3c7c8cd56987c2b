// CUDA embedding, rmsnorm and add_rmsnorm against the CPU reference.
#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

TEST(GpuOps, Embedding) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t vocab = 1000;
  for (DType out_dt : {DType::kBF16, DType::kF32})
  for (DType table_dt : {DType::kBF16, DType::kF32}) {
    for (int64_t h : {64, 896, 1543}) {
      for (int64_t t : {0, 1, 7, 33}) {
        SCOPED_TRACE("dtype " + std::string(dtype_name(table_dt)) + " out " + std::string(dtype_name(out_dt)) +
                     " h " + std::to_string(h) + " t " + std::to_string(t));
        std::vector<float> table = random_bf16_values(rng, size_t(vocab * h));
        std::vector<int32_t> ids(static_cast<size_t>(t));
        for (auto& id : ids) id = int32_t(rng() % uint64_t(vocab));
        ids.empty() || (ids.back() = int32_t(vocab - 1));
        DevTensor d_table = table_dt == DType::kBF16 ? upload_bf16(table, {vocab, h})
                                                     : upload(table, DType::kF32, {vocab, h});
        DevTensor d_ids = upload(ids, DType::kI32, {t});
        DevTensor out = poisoned(out_dt, {t, h});
        gpu().ops().embedding(d_table.t, d_ids.t.ptr<const int32_t>(), out.t);
        std::vector<float> ref(size_t(t * h));
        cpu_ops().embedding(host_f32(table, {vocab, h}), ids.data(), host_f32(ref, {t, h}));
        EXPECT_EQ(download(out.t), ref);  // bf16-representable values copy exactly
      }
    }
  }
}

TEST(GpuOps, RmsNorm) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (DType x_dt : {DType::kBF16, DType::kF32})
  for (DType w_dt : {DType::kBF16, DType::kF32}) {
    for (int64_t h : {64, 896, 1543, 3584, 8192}) {
      for (int64_t t : {0, 1, 5, 64}) {
        SCOPED_TRACE("x " + std::string(dtype_name(x_dt)) + " w " + std::string(dtype_name(w_dt)) + " h " +
                     std::to_string(h) + " t " + std::to_string(t));
        std::vector<float> x = random_bf16_values(rng, size_t(t * h), -3.f, 3.f);
        if (x_dt == DType::kF32)
          for (auto& e : x) e *= 1.0001f;  // not bf16-representable: the f32 input is read as is
        std::vector<float> w = random_bf16_values(rng, size_t(h), 0.5f, 1.5f);
        DevTensor dx = x_dt == DType::kBF16 ? upload_bf16(x, {t, h}) : upload(x, DType::kF32, {t, h});
        DevTensor dw = w_dt == DType::kBF16 ? upload_bf16(w, {h}) : upload(w, DType::kF32, {h});
        DevTensor out = poisoned(DType::kBF16, {t, h});
        gpu().ops().rmsnorm(dx.t, dw.t, 1e-6f, out.t);
        std::vector<float> ref(size_t(t * h));
        cpu_ops().rmsnorm(host_f32(x, {t, h}), host_f32(w, {h}), 1e-6f, host_f32(ref, {t, h}));
        EXPECT_LT(rel_error(download(out.t), ref), kBf16Tol);
      }
    }
  }
}

TEST(GpuOps, AddRmsNorm) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (DType x_dt : {DType::kBF16, DType::kF32})
  for (DType res_dt : {DType::kBF16, DType::kF32})
  for (int64_t h : {64, 1536, 1543, 3584, 8192}) {
    for (int64_t t : {0, 1, 3, 100}) {
      SCOPED_TRACE("x " + std::string(dtype_name(x_dt)) + " residual " + std::string(dtype_name(res_dt)) + " h " +
                   std::to_string(h) + " t " + std::to_string(t));
      std::vector<float> x = random_bf16_values(rng, size_t(t * h), -2.f, 2.f);
      if (x_dt == DType::kF32)
        for (auto& e : x) e *= 1.0001f;
      std::vector<float> res = random_bf16_values(rng, size_t(t * h), -2.f, 2.f);
      if (res_dt == DType::kF32)
        for (auto& e : res) e *= 1.0001f;  // an fp32 residual holds values bf16 cannot
      std::vector<float> w = random_bf16_values(rng, size_t(h), 0.5f, 1.5f);
      DevTensor dx = x_dt == DType::kBF16 ? upload_bf16(x, {t, h}) : upload(x, DType::kF32, {t, h});
      DevTensor dw = upload_bf16(w, {h});
      DevTensor dres = res_dt == DType::kBF16 ? upload_bf16(res, {t, h}) : upload(res, DType::kF32, {t, h});
      DevTensor out = poisoned(DType::kBF16, {t, h});
      gpu().ops().add_rmsnorm(dx.t, dres.t, dw.t, 1e-5f, out.t);
      std::vector<float> ref(size_t(t * h));
      cpu_ops().add_rmsnorm(host_f32(x, {t, h}), host_f32(res, {t, h}), host_f32(w, {h}), 1e-5f,
                            host_f32(ref, {t, h}));
      if (res_dt == DType::kF32) {
        EXPECT_LT(rel_error(download(dres.t), res), 1e-6) << "fp32 residual (same sum as the CPU)";
      } else {
        EXPECT_LT(rel_error(download(dres.t), res), kBf16Tol) << "residual";
      }
      EXPECT_LT(rel_error(download(out.t), ref), kBf16Tol) << "out";
    }
  }
}

// A row's normalized output is bit-identical whether it is normalized alone (the T = 1 kernel) or
// among other rows (the T > 1 kernel): a seeded request samples the same tokens alone and batched.
TEST(GpuOps, RmsNormRowIsBatchInvariant) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (bool add : {false, true})
  for (int64_t h : {64, 1536, 1543, 3584, 5120, 8192}) {
    const int64_t t = 37;
    SCOPED_TRACE(std::string(add ? "add_rmsnorm" : "rmsnorm") + " h " + std::to_string(h));
    std::vector<float> x = random_bf16_values(rng, size_t(t * h), -3.f, 3.f), res = random_bf16_values(rng, size_t(t * h), -3.f, 3.f);
    for (auto& e : x) e *= 1.0001f;
    for (auto& e : res) e *= 0.9999f;
    std::vector<float> w = random_bf16_values(rng, size_t(h), 0.5f, 1.5f);
    DevTensor dw = upload_bf16(w, {h});
    DevTensor dx = upload(x, DType::kF32, {t, h}), dres = upload(res, DType::kF32, {t, h});
    DevTensor all = poisoned(DType::kBF16, {t, h});
    if (add) gpu().ops().add_rmsnorm(dx.t, dres.t, dw.t, 1e-6f, all.t);
    else gpu().ops().rmsnorm(dx.t, dw.t, 1e-6f, all.t);
    const std::vector<float> together = download(all.t), res_together = download(dres.t);
    for (int64_t i = 0; i < t; i += 6) {
      const auto row = [&](const std::vector<float>& v) {
        return std::vector<float>(v.begin() + i * h, v.begin() + (i + 1) * h);
      };
      DevTensor x1 = upload(row(x), DType::kF32, {1, h}), r1 = upload(row(res), DType::kF32, {1, h});
      DevTensor one = poisoned(DType::kBF16, {1, h});
      if (add) gpu().ops().add_rmsnorm(x1.t, r1.t, dw.t, 1e-6f, one.t);
      else gpu().ops().rmsnorm(x1.t, dw.t, 1e-6f, one.t);
      EXPECT_EQ(download(one.t), row(together)) << "row " << i;
      if (add) {
        EXPECT_EQ(download(r1.t), row(res_together)) << "residual row " << i;
      }
    }
  }
}

}  // namespace
}  // namespace ds::gputest
