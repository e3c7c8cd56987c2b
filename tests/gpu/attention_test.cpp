// CUDA paged attention against the CPU reference: decode, prefill, chunked prefill over cached
// prefixes and mixed batches; context lengths at and around block boundaries; GQA ratios 1..8
// (6 and 7 included); head_dim 64 and 128; block tables in shuffled (non-contiguous) order;
// single-token and empty batches; long contexts split many ways; a huge block-table stride (CUDA
// graphs' fixed max_blocks_per_seq); mixed batches that start with decodes (the op runs those
// with the decode kernel and the rest with the prefill kernel). Every kernel (kSimple, kDecode, kPrefill: each must be
// correct for any batch) runs on every batch besides the op's own choice.
#include <cuda_runtime.h>

#include <algorithm>
#include <numeric>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#include "gpu_test_util.h"

namespace ds::gputest {
namespace {

struct SeqSpec {
  int32_t q_len, seq_len;  // the last q_len of seq_len context positions are queries
};

int num_sms() {
  int dev = 0, n = 0;
  EXPECT_EQ(cudaGetDevice(&dev), cudaSuccess);
  EXPECT_EQ(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  return n;
}

// One kernel, forced, through the launcher (its own workspace), into a poisoned output.
std::vector<float> run_kernel(cuda::AttentionKernel kernel, const Tensor& q, const Tensor& kc, const Tensor& vc,
                              const AttentionBatch& b, float scale) {
  cuda::PagedAttentionArgs a = cuda::paged_attention_args(q, kc, b, scale);
  cuda::plan_paged_attention(a, num_sms(), kernel);
  EXPECT_EQ(int(a.kernel), int(kernel));
  auto ws = gpu().alloc(std::max<size_t>(16, cuda::paged_attention_workspace_floats(a) * sizeof(float)));
  const size_t nc = cuda::paged_attention_counters(a);
  std::vector<int32_t> counters(nc, 0);
  auto dc = gpu().alloc(std::max<size_t>(16, nc * sizeof(int32_t)));
  EXPECT_EQ(cudaMemset(dc->data(), 0, std::max<size_t>(16, nc * sizeof(int32_t))), cudaSuccess);
  cuda::set_paged_attention_workspace(a, static_cast<float*>(ws->data()), static_cast<int32_t*>(dc->data()));
  // Twice into one workspace (the second must find the split counters reset by the first), the
  // second time into a freshly poisoned output.
  DevTensor out = poisoned(DType::kBF16, {q.dim(0), q.dim(1)});
  for (int rep = 0; rep < 2; ++rep) {
    if (rep == 1) out = poisoned(DType::kBF16, {q.dim(0), q.dim(1)});
    gpu().synchronize();
    cuda::launch_paged_attention(static_cast<const cuda::bf16*>(q.data), static_cast<const cuda::bf16*>(kc.data),
                                 static_cast<const cuda::bf16*>(vc.data), a, static_cast<cuda::bf16*>(out.t.data),
                                 nullptr);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  if (nc > 0) {
    EXPECT_EQ(cudaMemcpy(counters.data(), dc->data(), nc * sizeof(int32_t), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(std::count(counters.begin(), counters.end(), 0), int64_t(nc)) << "split counters not left at zero";
  }
  return download(out.t);
}

// stride: the block-table row length (max_blocks_per_seq); 0 = just enough for the longest sequence.
void check_attention(std::mt19937_64& rng, const std::vector<SeqSpec>& seqs, int64_t hk, int64_t group, int64_t d,
                     int32_t block_size, int32_t stride = 0) {
  const int64_t hq = hk * group;
  const int32_t num_seqs = int32_t(seqs.size());
  int32_t max_blocks = 1, total_blocks = 0;
  std::vector<int32_t> qsl{0}, seq_lens;
  for (const SeqSpec& s : seqs) {
    const int32_t nb = (s.seq_len + block_size - 1) / block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
    qsl.push_back(qsl.back() + s.q_len);
    seq_lens.push_back(s.seq_len);
  }
  if (stride > 0) max_blocks = std::max(max_blocks, stride);
  const int64_t t = qsl.back(), num_blocks = total_blocks + 3;  // a few blocks nobody owns
  std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> tables(size_t(std::max(num_seqs, 1) * max_blocks), -1);
  int32_t next = 0;
  for (int32_t s = 0; s < num_seqs; ++s)
    for (int32_t b = 0; b < (seqs[size_t(s)].seq_len + block_size - 1) / block_size; ++b)
      tables[size_t(s * max_blocks + b)] = perm[size_t(next++)];

  std::vector<float> q = random_bf16_values(rng, size_t(t * hq * d), -2.f, 2.f);
  std::vector<float> kc = random_bf16_values(rng, size_t(num_blocks * block_size * hk * d), -2.f, 2.f);
  std::vector<float> vc = random_bf16_values(rng, size_t(num_blocks * block_size * hk * d));
  const float scale = 1.f / std::sqrt(float(d));

  DevTensor dq = upload_bf16(q, {t, hq * d});
  DevTensor dkc = upload_bf16(kc, {num_blocks, block_size, hk, d});
  DevTensor dvc = upload_bf16(vc, {num_blocks, block_size, hk, d});
  DevTensor dqsl = upload(qsl, DType::kI32, {num_seqs + 1});
  DevTensor dlens = upload(seq_lens, DType::kI32, {num_seqs});
  DevTensor dtab = upload(tables, DType::kI32, {int64_t(tables.size())});
  DevTensor out = poisoned(DType::kBF16, {t, hq * d});

  AttentionBatch gb{num_seqs, dqsl.t.ptr<const int32_t>(), dlens.t.ptr<const int32_t>(), dtab.t.ptr<const int32_t>(),
                    max_blocks, block_size};
  while (gb.num_decode_seqs < num_seqs && seqs[size_t(gb.num_decode_seqs)].q_len == 1) ++gb.num_decode_seqs;
  gpu().ops().attention(dq.t, dkc.t, dvc.t, gb, scale, out.t);

  AttentionBatch cb{num_seqs, qsl.data(), seq_lens.data(), tables.data(), max_blocks, block_size};
  std::vector<float> ref(size_t(t * hq * d));
  cpu_ops().attention(host_f32(q, {t, hq * d}), host_f32(kc, {num_blocks, block_size, hk, d}),
                      host_f32(vc, {num_blocks, block_size, hk, d}), cb, scale, host_f32(ref, {t, hq * d}));
  EXPECT_LT(rel_error(download(out.t), ref), kBf16Tol) << "op's choice";
  if (d == 64 || d == 128) {
    for (cuda::AttentionKernel k :
         {cuda::AttentionKernel::kSimple, cuda::AttentionKernel::kDecode, cuda::AttentionKernel::kPrefill}) {
      if (k == cuda::AttentionKernel::kDecode && group > 16) continue;
      EXPECT_LT(rel_error(run_kernel(k, dq.t, dkc.t, dvc.t, gb, scale), ref), kBf16Tol) << "kernel " << int(k);
    }
  }
}

std::string describe(const std::vector<SeqSpec>& seqs) {
  std::string s;
  for (const SeqSpec& x : seqs) s += "(" + std::to_string(x.q_len) + "/" + std::to_string(x.seq_len) + ")";
  return s;
}

TEST(GpuAttention, DecodeGqaRatiosAndBlockBoundaries) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<SeqSpec> seqs = {{1, 1}, {1, 15}, {1, 16}, {1, 17}, {1, 32}, {1, 33}, {1, 257}, {1, 1000}};
  for (int64_t d : {64, 128}) {
    for (int64_t group = 1; group <= 8; ++group) {
      SCOPED_TRACE("d " + std::to_string(d) + " group " + std::to_string(group));
      check_attention(rng, seqs, 2, group, d, 16);
    }
  }
  check_attention(rng, seqs, 1, 16, 128, 16);  // the decode kernel's largest group
  check_attention(rng, seqs, 1, 32, 64, 16);   // beyond it: the planner falls back
}

TEST(GpuAttention, PrefillChunkedAndMixed) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::vector<SeqSpec>> batches = {
      {{3, 3}},                                  // short prefill
      {{16, 16}, {17, 17}, {33, 33}},            // prefills at block boundaries
      {{5, 40}, {16, 48}, {1, 31}},              // chunks over cached prefixes + a decode
      {{1, 20}, {100, 100}, {1, 64}, {7, 71}},   // mixed prefill + decode
      {{1, 1}},                                  // single token
      {{5, 300}, {1, 700}, {2, 129}},            // long contexts: split-KV with partial merges
      // decodes first, as the scheduler orders a mixed batch: two launches (decode, then prefill)
      {{1, 20}, {1, 64}, {1, 700}, {100, 100}, {7, 71}, {1, 33}},
      {{1, 1}, {16, 48}},
  };
  for (const auto& seqs : batches) {
    for (int64_t d : {64, 128}) {
      for (int64_t group : {1, 6, 7}) {
        for (int32_t block_size : {16, 32}) {
          SCOPED_TRACE(describe(seqs) + " d " + std::to_string(d) + " group " + std::to_string(group) + " bs " +
                       std::to_string(block_size));
          check_attention(rng, seqs, group == 7 ? 1 : 2, group, d, block_size);
        }
      }
    }
  }
}

// head_dim below a warp (stories260k: 8, the numerics models: 16, and 32): idle lanes must not
// read, write or contribute.
TEST(GpuAttention, SmallHeadDims) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::vector<SeqSpec>> batches = {
      {{1, 1}, {1, 17}, {1, 300}}, {{5, 5}, {16, 48}, {1, 31}}, {{5, 300}, {1, 700}}};
  for (const auto& seqs : batches) {
    for (int64_t d : {8, 16, 32}) {
      for (int64_t group : {1, 2, 4}) {
        SCOPED_TRACE(describe(seqs) + " d " + std::to_string(d) + " group " + std::to_string(group));
        check_attention(rng, seqs, 2, group, d, 16);
      }
    }
  }
}

// Long contexts (4k+: the decode kernel splits them many ways), GQA 7 and 8, odd lengths.
TEST(GpuAttention, LongContexts) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::vector<SeqSpec>> batches = {
      {{1, 4097}}, {{1, 8192}, {1, 5001}, {1, 63}}, {{3, 4500}, {1, 4096}, {64, 4160}}};
  for (const auto& seqs : batches) {
    for (int64_t d : {64, 128}) {
      for (int64_t group : {7, 8}) {
        SCOPED_TRACE(describe(seqs) + " d " + std::to_string(d) + " group " + std::to_string(group));
        check_attention(rng, seqs, group == 7 ? 4 : 1, group, d, 16);
      }
    }
  }
}

// A decode batch large enough that the decode kernel does not split (T * Hk fills the GPU).
TEST(GpuAttention, LargeDecodeBatch) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> len(1, 300);
  std::vector<SeqSpec> seqs;
  for (int i = 0; i < 256; ++i) seqs.push_back({1, len(rng)});
  check_attention(rng, seqs, 4, 7, 128, 16);
  check_attention(rng, seqs, 2, 6, 64, 16);
}

// CUDA graphs give every step the same block-table stride (max_model_len / block_size): results
// must not change, nor work grow with it.
TEST(GpuAttention, HugeBlockTableStride) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::vector<SeqSpec>> batches = {
      {{1, 1}, {1, 17}, {1, 1000}}, {{1, 20}, {100, 100}, {1, 64}, {7, 71}}, {{1, 3000}}};
  for (const auto& seqs : batches) {
    for (int64_t d : {64, 128}) {
      SCOPED_TRACE(describe(seqs) + " d " + std::to_string(d));
      check_attention(rng, seqs, 4, 7, d, 16, 8192);
    }
  }
}

TEST(GpuAttention, EmptyBatch) {
  std::mt19937_64 rng(1);
  check_attention(rng, {}, 2, 4, 128, 16);
}

}  // namespace
}  // namespace ds::gputest
