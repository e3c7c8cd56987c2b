// CUDA rope, store_kv, the fused rope_store_kv, silu_mul and gather_rows against the CPU reference.
#include <algorithm>
#include <numeric>

#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

// inv_freq[i] = base^(-2i/D); llama3 scaling divides the low frequencies by a factor and blends the
// middle band (the reference only needs some inv_freq table; this mimics both shapes).
std::vector<float> make_inv_freq(int64_t d, bool llama3) {
  std::vector<float> inv(size_t(d / 2));
  for (int64_t i = 0; i < d / 2; ++i) {
    float f = std::pow(500000.f, -2.f * float(i) / float(d));
    if (llama3) {
      const float wavelen = 2.f * float(M_PI) / f;
      if (wavelen > 8192.f) f /= 8.f;
      else if (wavelen > 2048.f) f = 0.5f * (f / 8.f) + 0.5f * f;
    }
    inv[size_t(i)] = f;
  }
  return inv;
}

TEST(GpuOps, Rope) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int64_t t, hq, hk, d; bool llama3; };
  for (const Case c : {Case{0, 4, 2, 64, false}, Case{1, 12, 2, 128, false}, Case{7, 28, 4, 128, true},
                       Case{33, 14, 2, 64, false}, Case{5, 32, 8, 128, true}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " hq " + std::to_string(c.hq) + " hk " + std::to_string(c.hk) +
                 " d " + std::to_string(c.d));
    std::vector<float> q = random_bf16_values(rng, size_t(c.t * c.hq * c.d));
    std::vector<float> k = random_bf16_values(rng, size_t(c.t * c.hk * c.d));
    std::vector<int32_t> pos(static_cast<size_t>(c.t));
    for (auto& p : pos) p = int32_t(rng() % 32768);
    if (c.t > 0) pos[0] = 0;
    std::vector<float> inv = make_inv_freq(c.d, c.llama3);
    DevTensor dq = upload_bf16(q, {c.t, c.hq * c.d}), dk = upload_bf16(k, {c.t, c.hk * c.d});
    DevTensor dpos = upload(pos, DType::kI32, {c.t}), dinv = upload(inv, DType::kF32, {c.d / 2});
    gpu().ops().rope(dq.t, dk.t, dpos.t.ptr<const int32_t>(), RopeParams{dinv.t.ptr<const float>(), int32_t(c.d)});
    cpu_ops().rope(host_f32(q, {c.t, c.hq * c.d}), host_f32(k, {c.t, c.hk * c.d}), pos.data(),
                   RopeParams{inv.data(), int32_t(c.d)});
    EXPECT_LT(rel_error(download(dq.t), q), kBf16Tol) << "q";
    EXPECT_LT(rel_error(download(dk.t), k), kBf16Tol) << "k";
  }
}

TEST(GpuOps, StoreKv) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t num_blocks = 9, block_size = 16;
  for (int64_t hk : {1, 2, 3}) {
    for (int64_t d : {64, 128}) {
      for (int64_t t : {0, 1, 17, 50}) {
        SCOPED_TRACE("hk " + std::to_string(hk) + " d " + std::to_string(d) + " t " + std::to_string(t));
        const int64_t row = hk * d, slots = num_blocks * block_size;
        std::vector<float> k = random_bf16_values(rng, size_t(t * row)), v = random_bf16_values(rng, size_t(t * row));
        std::vector<float> kc = random_bf16_values(rng, size_t(slots * row));
        std::vector<float> vc = random_bf16_values(rng, size_t(slots * row));
        std::vector<int32_t> perm(static_cast<size_t>(slots));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        std::vector<int32_t> slot(perm.begin(), perm.begin() + t);
        for (size_t i = 0; i < slot.size(); i += 5) slot[i] = -1;  // padding tokens
        DevTensor dk = upload_bf16(k, {t, row}), dv = upload_bf16(v, {t, row});
        DevTensor dkc = upload_bf16(kc, {num_blocks, block_size, hk, d});
        DevTensor dvc = upload_bf16(vc, {num_blocks, block_size, hk, d});
        DevTensor dslot = upload(slot, DType::kI32, {t});
        gpu().ops().store_kv(dk.t, dv.t, dkc.t, dvc.t, dslot.t.ptr<const int32_t>());
        cpu_ops().store_kv(host_f32(k, {t, row}), host_f32(v, {t, row}), host_f32(kc, {num_blocks, block_size, hk, d}),
                           host_f32(vc, {num_blocks, block_size, hk, d}), slot.data());
        EXPECT_EQ(download(dkc.t), kc);
        EXPECT_EQ(download(dvc.t), vc);
      }
    }
  }
}

// The fused op against the CPU reference's rope followed by store_kv: q rotated in place, rotated k
// and v in their slots (padding slots -1 skipped), every other cache row untouched.
// t tokens' positions (anywhere below 32,768) and cache slots (distinct, shuffled; every fourth -1,
// a padding token that stores nothing).
std::pair<std::vector<int32_t>, std::vector<int32_t>> token_places(std::mt19937_64& rng, int64_t t, int64_t slots) {
  std::vector<int32_t> pos(static_cast<size_t>(t));
  for (auto& p : pos) p = int32_t(rng() % 32768);
  std::vector<int32_t> perm(static_cast<size_t>(slots));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> slot(perm.begin(), perm.begin() + t);
  for (size_t i = 1; i < slot.size(); i += 4) slot[i] = -1;
  return {pos, slot};
}

TEST(GpuOps, RopeStoreKv) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t num_blocks = 9, block_size = 16, slots = num_blocks * block_size;
  struct Case { int64_t t, hq, hk, d; bool llama3; };
  for (const Case c : {Case{0, 4, 2, 64, false}, Case{1, 12, 2, 128, false}, Case{7, 28, 4, 128, true},
                       Case{33, 14, 2, 64, false}, Case{50, 6, 1, 128, true}, Case{3, 7, 1, 64, false},
                       // head_dim % 16 != 0: the 2-byte kernel (the others take the 16-byte one)
                       Case{5, 3, 1, 8, false}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " hq " + std::to_string(c.hq) + " hk " + std::to_string(c.hk) +
                 " d " + std::to_string(c.d));
    const int64_t row = c.hk * c.d;
    std::vector<float> q = random_bf16_values(rng, size_t(c.t * c.hq * c.d));
    std::vector<float> k = random_bf16_values(rng, size_t(c.t * row)), v = random_bf16_values(rng, size_t(c.t * row));
    std::vector<float> kc = random_bf16_values(rng, size_t(slots * row)), vc = random_bf16_values(rng, size_t(slots * row));
    const auto [pos, slot] = token_places(rng, c.t, slots);
    std::vector<float> inv = make_inv_freq(c.d, c.llama3);
    DevTensor dq = upload_bf16(q, {c.t, c.hq * c.d}), dk = upload_bf16(k, {c.t, row}), dv = upload_bf16(v, {c.t, row});
    DevTensor dkc = upload_bf16(kc, {num_blocks, block_size, c.hk, c.d}), dvc = upload_bf16(vc, {num_blocks, block_size, c.hk, c.d});
    DevTensor dpos = upload(pos, DType::kI32, {c.t}), dinv = upload(inv, DType::kF32, {c.d / 2});
    DevTensor dslot = upload(slot, DType::kI32, {c.t});
    gpu().ops().rope_store_kv(dq.t, dk.t, dv.t, dpos.t.ptr<const int32_t>(),
                              RopeParams{dinv.t.ptr<const float>(), int32_t(c.d)}, dkc.t, dvc.t,
                              dslot.t.ptr<const int32_t>());
    const Tensor hk_cache = host_f32(kc, {num_blocks, block_size, c.hk, c.d});
    const Tensor hv_cache = host_f32(vc, {num_blocks, block_size, c.hk, c.d});
    cpu_ops().rope(host_f32(q, {c.t, c.hq * c.d}), host_f32(k, {c.t, row}), pos.data(), RopeParams{inv.data(), int32_t(c.d)});
    cpu_ops().store_kv(host_f32(k, {c.t, row}), host_f32(v, {c.t, row}), hk_cache, hv_cache, slot.data());
    EXPECT_LT(rel_error(download(dq.t), q), kBf16Tol) << "q";
    const std::vector<float> got_k = download(dkc.t);
    EXPECT_LT(rel_error(got_k, kc), kBf16Tol) << "k cache";
    EXPECT_EQ(download(dvc.t), vc) << "v cache";
    // Rows of slots nobody wrote are bit-identical to what was there.
    std::vector<bool> written(size_t(slots), false);
    for (int32_t s : slot)
      if (s >= 0) written[size_t(s)] = true;
    for (int64_t s = 0; s < slots; ++s) {
      if (written[size_t(s)]) continue;
      for (int64_t i = 0; i < row; ++i) {
        ASSERT_EQ(got_k[size_t(s * row + i)], kc[size_t(s * row + i)]) << "slot " << s;
      }
    }
  }
}

// rope_store_kv on the rows of a fused q|k|v product (prefill and batched decode through the fused
// weights): the rotated q into its own buffer, k and v into the caches; qkv must stay unwritten.
TEST(GpuOps, QkvRopeStore) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int64_t num_blocks = 9, block_size = 16, slots = num_blocks * block_size;
  struct Case { int64_t t, hq, hk, d; };
  for (const Case c : {Case{1, 28, 4, 128}, Case{7, 28, 4, 128}, Case{33, 12, 2, 128}, Case{50, 14, 2, 64},
                       Case{5, 3, 1, 8}}) {
    SCOPED_TRACE("t " + std::to_string(c.t) + " hq " + std::to_string(c.hq) + " hk " + std::to_string(c.hk) +
                 " d " + std::to_string(c.d));
    const int64_t qs = c.hq * c.d, ks = c.hk * c.d, n = qs + 2 * ks;
    std::vector<float> qkv = random_bf16_values(rng, size_t(c.t * n));
    std::vector<float> kc = random_bf16_values(rng, size_t(slots * ks)), vc = random_bf16_values(rng, size_t(slots * ks));
    const auto [pos, slot] = token_places(rng, c.t, slots);
    std::vector<float> inv = make_inv_freq(c.d, false);
    DevTensor dqkv = upload_bf16(qkv, {c.t, n}), dq = poisoned(DType::kBF16, {c.t, qs});
    DevTensor dkc = upload_bf16(kc, {num_blocks, block_size, c.hk, c.d}), dvc = upload_bf16(vc, {num_blocks, block_size, c.hk, c.d});
    DevTensor dpos = upload(pos, DType::kI32, {c.t}), dinv = upload(inv, DType::kF32, {c.d / 2});
    DevTensor dslot = upload(slot, DType::kI32, {c.t});
    gpu().ops().qkv_rope_store(dqkv.t, dq.t, dpos.t.ptr<const int32_t>(), RopeParams{dinv.t.ptr<const float>(), int32_t(c.d)},
                               dkc.t, dvc.t, dslot.t.ptr<const int32_t>());
    std::vector<float> ref_q(size_t(c.t * qs));
    const Tensor hk_cache = host_f32(kc, {num_blocks, block_size, c.hk, c.d});
    const Tensor hv_cache = host_f32(vc, {num_blocks, block_size, c.hk, c.d});
    cpu_ops().qkv_rope_store(host_f32(qkv, {c.t, n}), host_f32(ref_q, {c.t, qs}), pos.data(),
                             RopeParams{inv.data(), int32_t(c.d)}, hk_cache, hv_cache, slot.data());
    EXPECT_LT(rel_error(download(dq.t), ref_q), kBf16Tol) << "q";
    EXPECT_LT(rel_error(download(dkc.t), kc), kBf16Tol) << "k cache";
    EXPECT_EQ(download(dvc.t), vc) << "v cache";
    EXPECT_EQ(download(dqkv.t), qkv) << "qkv written";
  }
}

TEST(GpuOps, SiluMul) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // odd n: the element-wise loop; multiples of 8: the 16-byte loop
  for (int64_t n : {0, 1, 1001, (1 << 20) + 3, 8, 2048 * 37888 / 64, (1 << 20) + 8}) {
    for (bool in_place : {false, true}) {
      SCOPED_TRACE("n " + std::to_string(n) + (in_place ? " in place" : ""));
      std::vector<float> g = random_bf16_values(rng, size_t(n), -8.f, 8.f), u = random_bf16_values(rng, size_t(n));
      DevTensor dg = upload_bf16(g, {1, n}), du = upload_bf16(u, {1, n});
      DevTensor out = poisoned(DType::kBF16, {1, n});
      Tensor dst = in_place ? dg.t : out.t;
      gpu().ops().silu_mul(dg.t, du.t, dst);
      std::vector<float> ref(static_cast<size_t>(n));
      cpu_ops().silu_mul(host_f32(g, {1, n}), host_f32(u, {1, n}), host_f32(ref, {1, n}));
      EXPECT_LT(rel_error(download(dst), ref), kBf16Tol);
    }
  }
}

TEST(GpuOps, GatherRows) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (DType dt : {DType::kBF16, DType::kF32}) {
    for (int64_t h : {896, 1543, 7}) {
      for (int64_t n : {0, 1, 9}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " h " + std::to_string(h) + " n " + std::to_string(n));
        const int64_t t = 20;
        std::vector<float> x = random_bf16_values(rng, size_t(t * h));
        std::vector<int32_t> rows(static_cast<size_t>(n));
        for (auto& r : rows) r = int32_t(rng() % uint64_t(t));
        DevTensor dx = dt == DType::kBF16 ? upload_bf16(x, {t, h}) : upload(x, DType::kF32, {t, h});
        DevTensor drows = upload(rows, DType::kI32, {n});
        DevTensor out = poisoned(dt, {n, h});
        gpu().ops().gather_rows(dx.t, drows.t.ptr<const int32_t>(), out.t);
        std::vector<float> ref(size_t(n * h));
        cpu_ops().gather_rows(host_f32(x, {t, h}), rows.data(), host_f32(ref, {n, h}));
        EXPECT_EQ(download(out.t), ref);
      }
    }
  }
}

}  // namespace
}  // namespace ds::gputest
