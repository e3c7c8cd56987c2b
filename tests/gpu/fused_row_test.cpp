// The fused ops of a single-token forward (decoder.cpp's layer): matmul_add (o_proj/down_proj added
// into the fp32 residual in the matmul's epilogue), matmul_add_rmsnorm (and the next norm in the
// grid's last block), the q/k/v projection with rope and the K/V store in its epilogue. Each against
// the CPU reference, and bit for bit against what CUDA's separate kernels (matmul, add_rmsnorm,
// rope_store_kv) compute, so that decode at batch 1 gives the same numbers with and without the
// fusion. Shapes of the 1.5B and 7B layers, the largest hidden size (8192), the unroll tail, odd N,
// and K % 8 != 0 (the default path).
#include <cmath>

#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

// A residual-stream row: fp32 values that bf16 does not represent exactly.
std::vector<float> residual_row(std::mt19937_64& rng, int64_t h) {
  std::normal_distribution<float> d(0.f, 1.5f);
  std::vector<float> v(static_cast<size_t>(h));
  for (float& x : v) x = d(rng);
  return v;
}

// The error of what was added to a residual: rel_error(got - res, ref - res).
double added_error(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<float>& res) {
  if (got.size() != res.size() || ref.size() != res.size()) return INFINITY;
  std::vector<float> got_delta(got.size()), ref_delta(ref.size());
  for (size_t j = 0; j < got.size(); ++j) {
    got_delta[j] = got[j] - res[j];
    ref_delta[j] = ref[j] - res[j];
  }
  return rel_error(got_delta, ref_delta);
}

TEST(GpuOps, MatmulAdd) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t k, n; };
  for (const Case c : {Case{1536, 1536}, Case{8960, 1536}, Case{3584, 3584}, Case{18944, 3584}, Case{8, 77},
                       Case{904, 33}, Case{900, 65}}) {
    SCOPED_TRACE("k " + std::to_string(c.k) + " n " + std::to_string(c.n));
    std::vector<float> x = random_bf16_values(rng, size_t(c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(c.n * c.k), -0.1f, 0.1f);
    std::vector<float> res = residual_row(rng, c.n), norm_w = random_bf16_values(rng, size_t(c.n));
    DevTensor dx = upload_bf16(x, {1, c.k}), dw = upload_bf16(w, {c.n, c.k}), dnw = upload_bf16(norm_w, {c.n});
    DevTensor fused = upload(res, DType::kF32, {1, c.n}), two = upload(res, DType::kF32, {1, c.n});
    DevTensor scratch = poisoned(DType::kF32, {1, c.n}), scratch2 = poisoned(DType::kF32, {1, c.n});
    DevTensor normed = poisoned(DType::kBF16, {1, c.n});
    gpu().ops().matmul_add(dx.t, dw.t, scratch.t, fused.t);
    // what the batched path does: the product into a buffer, then add_rmsnorm's add
    gpu().ops().matmul(dx.t, dw.t, Tensor(), scratch2.t);
    gpu().ops().add_rmsnorm(scratch2.t, two.t, dnw.t, 1e-6f, normed.t);
    std::vector<uint16_t> w16 = to_bf16(w);
    std::vector<float> ref = res, ref_scratch(size_t(c.n));
    cpu_ops().matmul_add(host_f32(x, {1, c.k}), Tensor(w16.data(), DType::kBF16, {c.n, c.k}),
                         host_f32(ref_scratch, {1, c.n}), host_f32(ref, {1, c.n}));
    const std::vector<float> got = download(fused.t), unfused = download(two.t);
    EXPECT_LT(added_error(got, ref, res), kBf16Tol);
    if (c.k % 8 == 0) {  // the skinny kernel's epilogue; K % 8 != 0 takes cuBLASLt with beta = 1
      EXPECT_EQ(bit_differences(got, unfused), 0) << "matmul_add differs from matmul + add_rmsnorm's add";
    }
  }
}

// matmul_add_rmsnorm: one row is one kernel whose last block normalizes the updated residual; it
// must give the residual and the normalized row of matmul + add_rmsnorm bit for bit (the default),
// and match the CPU reference. The cases run one after another on the same counter, so each launch
// also checks that the one before left it at zero. n % 4 != 0 takes the default path. Several rows
// (cuBLASLt): the product added in the matmul's epilogue (beta = 1), then rmsnorm, bit for bit
// against the default's product into scratch and add_rmsnorm (the same algorithm: one plan per
// shape), and against the CPU reference; 4,096 rows also tune that plan into scratch first.
TEST(GpuOps, MatmulAddRmsnorm) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t t, k, n; };
  for (const Case c : {Case{1, 1536, 1536}, Case{1, 8960, 1536}, Case{1, 3584, 3584}, Case{1, 18944, 3584},
                       Case{1, 1536, 1536}, Case{1, 512, 8192}, Case{1, 904, 36}, Case{1, 8, 4}, Case{1, 904, 33},
                       Case{3, 1536, 1536}, Case{16, 3584, 3584}, Case{4096, 1536, 1536}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " k " + std::to_string(c.k) + " n " + std::to_string(c.n));
    const float eps = 1e-6f;
    std::vector<float> x = random_bf16_values(rng, size_t(c.t * c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(c.n * c.k), -0.1f, 0.1f);
    std::vector<float> norm_w = random_bf16_values(rng, size_t(c.n), 0.5f, 1.5f), res;
    for (int64_t r = 0; r < c.t; ++r) {
      const std::vector<float> row = residual_row(rng, c.n);
      res.insert(res.end(), row.begin(), row.end());
    }
    DevTensor dx = upload_bf16(x, {c.t, c.k}), dw = upload_bf16(w, {c.n, c.k}), dnw = upload_bf16(norm_w, {c.n});
    DevTensor res1 = upload(res, DType::kF32, {c.t, c.n}), res2 = upload(res, DType::kF32, {c.t, c.n});
    DevTensor scratch = poisoned(DType::kF32, {c.t, c.n}), scratch2 = poisoned(DType::kF32, {c.t, c.n});
    DevTensor normed = poisoned(DType::kBF16, {c.t, c.n}), normed2 = poisoned(DType::kBF16, {c.t, c.n});
    gpu().ops().matmul_add_rmsnorm(dx.t, dw.t, scratch.t, res1.t, dnw.t, eps, normed.t);
    gpu().ops().Ops::matmul_add_rmsnorm(dx.t, dw.t, scratch2.t, res2.t, dnw.t, eps, normed2.t);
    std::vector<uint16_t> w16 = to_bf16(w), nw16 = to_bf16(norm_w);
    std::vector<float> ref = res, ref_scratch(size_t(c.t * c.n)), ref_normed(size_t(c.t * c.n));
    cpu_ops().matmul_add(host_f32(x, {c.t, c.k}), Tensor(w16.data(), DType::kBF16, {c.n, c.k}),
                         host_f32(ref_scratch, {c.t, c.n}), host_f32(ref, {c.t, c.n}));
    cpu_ops().rmsnorm(host_f32(ref, {c.t, c.n}), Tensor(nw16.data(), DType::kBF16, {c.n}), eps,
                      host_f32(ref_normed, {c.t, c.n}));
    const std::vector<float> got = download(res1.t), two = download(res2.t);
    const std::vector<float> got_normed = download(normed.t), two_normed = download(normed2.t);
    EXPECT_LT(added_error(got, ref, res), kBf16Tol);
    EXPECT_LT(rel_error(got_normed, ref_normed), kBf16Tol);
    EXPECT_EQ(bit_differences(got, two), 0) << "residual differs from matmul + add_rmsnorm's";
    EXPECT_EQ(bit_differences(got_normed, two_normed), 0) << "normed row differs from matmul + add_rmsnorm's";
  }
}

// Several rows: cuBLASLt with the residual as C and D (beta = 1), against the CPU reference's
// residual + product.
TEST(GpuOps, MatmulAddRows) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t t, k, n; };
  for (const Case c : {Case{2, 3584, 512}, Case{5, 1536, 1536}, Case{300, 904, 33}, Case{64, 900, 65}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " k " + std::to_string(c.k) + " n " + std::to_string(c.n));
    std::vector<float> x = random_bf16_values(rng, size_t(c.t * c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(c.n * c.k), -0.1f, 0.1f);
    std::vector<float> res;
    for (int64_t r = 0; r < c.t; ++r) {
      const std::vector<float> row = residual_row(rng, c.n);
      res.insert(res.end(), row.begin(), row.end());
    }
    DevTensor dx = upload_bf16(x, {c.t, c.k}), dw = upload_bf16(w, {c.n, c.k});
    DevTensor got_res = upload(res, DType::kF32, {c.t, c.n}), scratch = poisoned(DType::kF32, {c.t, c.n});
    gpu().ops().matmul_add(dx.t, dw.t, scratch.t, got_res.t);
    std::vector<uint16_t> w16 = to_bf16(w);
    std::vector<float> ref = res, ref_scratch(size_t(c.t * c.n));
    cpu_ops().matmul_add(host_f32(x, {c.t, c.k}), Tensor(w16.data(), DType::kBF16, {c.n, c.k}),
                         host_f32(ref_scratch, {c.t, c.n}), host_f32(ref, {c.t, c.n}));
    const std::vector<float> got = download(got_res.t);
    EXPECT_LT(added_error(got, ref, res), kBf16Tol);
  }
}

// The q/k/v projection of a decode row with rope and the K/V store in its epilogue
// (matmul_qkv_rope_store: x is the normalized bf16 row). Against CUDA's separate path (matmul, then
// rope_store_kv: the op's default) bit for bit (q columns, both caches) and against the CPU
// reference; 1.5B, 7B and 14B-like heads, biases none/bf16/f32, head_dim 64 and 8, a slot of -1
// (nothing stored) and the last slot.
TEST(GpuOps, MatmulQkvRopeStore) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t blocks = 4, bs = 16, slots = blocks * bs;
  struct Case { int64_t k, hq, hk, d; int bias; int32_t slot; };  // slot -2: a random one
  for (const Case c : {Case{1536, 12, 2, 128, 2, -2}, Case{3584, 28, 4, 128, 1, -2}, Case{5120, 40, 8, 128, 0, 63},
                       Case{896, 14, 2, 64, 2, -1}, Case{904, 6, 1, 8, 1, -2}}) {
    const int64_t qs = c.hq * c.d, ks = c.hk * c.d, n = qs + 2 * ks;
    SCOPED_TRACE("k " + std::to_string(c.k) + " heads " + std::to_string(c.hq) + "/" + std::to_string(c.hk) + " d " +
                 std::to_string(c.d) + " bias " + std::to_string(c.bias) + " slot " + std::to_string(c.slot));
    std::vector<float> x = random_bf16_values(rng, size_t(c.k));
    std::vector<float> w = random_bf16_values(rng, size_t(n * c.k), -0.1f, 0.1f), b = random_bf16_values(rng, size_t(n));
    std::vector<float> kc = random_bf16_values(rng, size_t(slots * ks)), vc = random_bf16_values(rng, size_t(slots * ks));
    std::vector<float> inv(size_t(c.d / 2));
    for (size_t i = 0; i < inv.size(); ++i) inv[i] = float(std::pow(1e6, -2.0 * double(i) / double(c.d)));
    std::vector<int32_t> pos{int32_t(rng() % 32768)}, slot{c.slot == -2 ? int32_t(rng() % uint64_t(slots)) : c.slot};
    DevTensor dx = upload_bf16(x, {1, c.k}), dw = upload_bf16(w, {n, c.k});
    DevTensor db = c.bias == 1 ? upload_bf16(b, {n}) : upload(b, DType::kF32, {n});
    const Tensor bias = c.bias ? db.t : Tensor();
    DevTensor dpos = upload(pos, DType::kI32, {1}), dslot = upload(slot, DType::kI32, {1}), dinv = upload(inv, DType::kF32, {c.d / 2});
    const RopeParams rope{dinv.t.ptr<const float>(), int32_t(c.d)};
    const int32_t* p = dpos.t.ptr<const int32_t>();
    const int32_t* sl = dslot.t.ptr<const int32_t>();
    DevTensor kc1 = upload_bf16(kc, {blocks, bs, c.hk, c.d}), vc1 = upload_bf16(vc, {blocks, bs, c.hk, c.d});
    DevTensor kc2 = upload_bf16(kc, {blocks, bs, c.hk, c.d}), vc2 = upload_bf16(vc, {blocks, bs, c.hk, c.d});
    DevTensor fused = poisoned(DType::kBF16, {1, n}), two = poisoned(DType::kBF16, {1, n});
    Ops& ops = gpu().ops();
    ops.matmul_qkv_rope_store(dx.t, dw.t, bias, p, rope, kc1.t, vc1.t, sl, fused.t);
    ops.Ops::matmul_qkv_rope_store(dx.t, dw.t, bias, p, rope, kc2.t, vc2.t, sl, two.t);
    std::vector<float> got_q = download(fused.t), two_q = download(two.t);
    got_q.resize(size_t(qs)), two_q.resize(size_t(qs));
    const std::vector<float> got_k = download(kc1.t), got_v = download(vc1.t);
    EXPECT_EQ(bit_differences(got_q, two_q), 0) << "q differs from the projection + rope_store_kv";
    EXPECT_EQ(bit_differences(got_k, download(kc2.t)), 0) << "k cache";
    EXPECT_EQ(bit_differences(got_v, download(vc2.t)), 0) << "v cache";
    // CPU reference: the op's default on the CPU backend (fp32 activations and caches).
    std::vector<float> ref_qkv(static_cast<size_t>(n)), ref_kc = kc, ref_vc = vc;
    std::vector<uint16_t> w16 = to_bf16(w);
    const Tensor hw(w16.data(), DType::kBF16, {n, c.k}), hb = c.bias ? host_f32(b, {n}) : Tensor();
    const RopeParams hrope{inv.data(), int32_t(c.d)};
    const Tensor hkc = host_f32(ref_kc, {blocks, bs, c.hk, c.d}), hvc = host_f32(ref_vc, {blocks, bs, c.hk, c.d});
    cpu_ops().matmul_qkv_rope_store(host_f32(x, {1, c.k}), hw, hb, pos.data(), hrope, hkc, hvc, slot.data(),
                                    host_f32(ref_qkv, {1, n}));
    ref_qkv.resize(size_t(qs));
    EXPECT_LT(rel_error(got_q, ref_qkv), kBf16Tol) << "q";
    EXPECT_LT(rel_error(got_k, ref_kc), kBf16Tol) << "k cache";
    EXPECT_LT(rel_error(got_v, ref_vc), kBf16Tol) << "v cache";
    if (slot[0] < 0) {
      EXPECT_EQ(got_k, kc) << "slot -1 stores nothing";
    }
  }
}

}  // namespace
}  // namespace ds::gputest
