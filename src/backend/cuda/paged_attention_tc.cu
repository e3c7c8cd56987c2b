// Paged causal attention on tensor cores (FlashAttention-2 style), head_dim 64 and 128, two
// launch shapes of one kernel body:
//  - prefill (any batch, chunked prefill and mixed batches included): a block owns up to 64
//    "rows" of one sequence and one KV head, a row being a (query token, query head of the KV
//    head's GQA group) pair, so K/V tiles are read once for the whole group. Each of the 4 warps
//    owns 16 rows and walks every key of a 64-key tile.
//  - decode (one query token per sequence): a block owns one (token, KV head, split); its 16 rows
//    are the group's query heads (GQA ratio <= 16, padded with zero rows). Each warp takes 16 of
//    the tile's 64 keys with its own online softmax; the 4 states are merged through shared memory
//    at the end. Split-KV: the token's context (known on the device only) is cut, in 64-key
//    tiles, into at most the number of splits planned on the host, each split one tile or more
//    (kShortSplits; a context of one tile is one split: no partial states, no merge). Splits
//    past the context exit at once. With more than one split in use: on sm_90 the grid's splits run
//    as clusters of 8 blocks, and a token with at most 8 splits merges them in its cluster (each
//    block's state in its shared memory, block 0 reads them through distributed shared memory:
//    merge_in_cluster); otherwise each split writes its fp32 partial state and bumps the (token, KV
//    head)'s counter, and the block that finds itself last merges the states (merge_if_last) and
//    resets the counter. Either way in split order (deterministic whatever the finishing order) and
//    without a second kernel launch (a fixed ~4 us per layer at short contexts on an H100).
//    A decode block starts before pdl_wait(): it finds its sequence, reads the block table and
//    issues its first K/V tile while the kernel before it (rope + K/V store) still runs, leaving out
//    the one row that kernel writes (the token's own key), which it loads with q after the wait.
// K/V tiles of 64 keys are gathered from the paged cache through the block table into shared
// memory with 16-byte cp.async (zero-filled past the context), double-buffered: tile i+1 loads
// while tile i computes. Shared-memory rows are 16-byte-chunk XOR-swizzled (chunk ^ row % 8) so
// ldmatrix reads are free of bank conflicts. S = Q K^T and O += P V use mma.sync m16n8k16 (bf16 in,
// fp32 accumulators); the softmax runs in the log2 domain (exp2) on the accumulator fragments.
// Tried and dropped: 3 prefill blocks per SM (168 registers: spills, 146 vs 165 TFLOP/s at 2048
// tokens on an H200) and two 16-row m-tiles per warp (128-row tiles, Q re-read from shared memory:
// 255 registers with spills at head_dim 128; 146 vs 166 TFLOP/s at 2048 tokens, 109 vs 155 on a
// 512-token chunk over a 4k prefix).
// CPU reference: cpu::paged_attention.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/split_merge.cuh"

namespace ds::cuda {
namespace {

constexpr int kThreads = 128;  // 4 warps
constexpr int kTileKeys = 64;
// Decode splits: one 64-key tile each while that makes at most kShortSplits splits, then longer,
// up to kLongSplitTiles tiles (and more where the planned splits run out). The last block merges
// every split's state, so many short splits cost more than they save on long contexts. H200
// (bench/results/cuda_h200_session7.md): 1-tile splits took the 7B 128/512 decode to 4.359 from
// 4.450 ms/token (4-tile splits), the 1.5B to 1.716 from 1.764, a 1,024-key context to 11.9-12.6
// from 17.9-19.5 us; but an 8,192-key context took 32.3-33.8 us in 64 splits of 2 tiles against
// 25.7-27.5 in 32 of 4, which is what this rule gives there (contexts of 2k-8k keys: not measured).
constexpr int32_t kShortSplits = 32, kLongSplitTiles = 4;

template <int D, bool kDecode>
struct TcCfg {
  static constexpr int kRows = kDecode ? 16 : 64;          // query rows per block
  static constexpr int kWarpKeys = kDecode ? 16 : 64;      // keys of a tile one warp handles
  static constexpr int kNt = kWarpKeys / 8;                // S n-tiles per warp
  static constexpr int kKsteps = D / 16;                   // k-steps over the head dim
  static constexpr int kDt = D / 8;                        // O n-tiles over the head dim
  static constexpr int kChunks = D / 8;                    // 16-byte chunks per row
  static constexpr int kSmemBytes = 4 * kTileKeys * D * 2;  // 2 x (K, V); Q is staged in K buffer 1
};

// Element offset of (row, 16-byte chunk) in a swizzled [rows, D] bf16 tile.
template <int D>
__device__ __forceinline__ int swz(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// c += a (16x16, row) * b (16x8, col); bf16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// Prefill: the sequence and the sequence-local 64-row tile of global tile `tile` (tiles numbered
// sequence after sequence, ceil(q_len * group / 64) each), found by warp 0 with a prefix scan over
// the sequences; seq = -1 when tile is past the last one.
__device__ void find_tile(const PagedAttentionArgs& a, int32_t group, int32_t tile, int32_t* s_seq,
                          int32_t* s_local) {
  const int lane = threadIdx.x & 31;
  if (threadIdx.x >= 32) return;
  int32_t base = 0;
  for (int32_t s0 = 0; s0 < a.num_seqs; s0 += 32) {
    const int32_t s = s0 + lane;
    int32_t n = 0;
    if (s < a.num_seqs) n = ((a.query_start_loc[s + 1] - a.query_start_loc[s]) * group + 63) / 64;
    int32_t incl = n;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int32_t v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    const bool hit = s < a.num_seqs && base + incl - n <= tile && tile < base + incl;
    if (hit) {
      *s_seq = s;
      *s_local = tile - (base + incl - n);
    }
    if (__ballot_sync(0xffffffffu, hit)) return;
    base += __shfl_sync(0xffffffffu, incl, 31);
  }
  if (lane == 0) *s_seq = -1;
}

// Grid: prefill (tiles upper bound, Hk); decode (T * Hk, num_splits rounded up to a multiple of
// a.cluster_splits). 128 threads.
template <int D, bool kDecode>
__global__ void __launch_bounds__(kThreads) paged_attention_tc_kernel(const bf16* __restrict__ q,
                                                                      const bf16* __restrict__ k_cache,
                                                                      const bf16* __restrict__ v_cache,
                                                                      const PagedAttentionArgs a,
                                                                      bf16* __restrict__ out) {
  using C = TcCfg<D, kDecode>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* ks0 = reinterpret_cast<bf16*>(smem_raw);  // K buffers 0, 1 then V buffers 0, 1
  bf16* qs = ks0 + kTileKeys * D;                   // Q, until its fragments are in registers
  __shared__ int32_t s_seq, s_local;
  // Decode starts early: the batch's metadata and the cached keys come from before this forward
  // (copied in ahead of its first kernel, or written by an earlier step), so they are read before
  // pdl_wait(); only q and the token's own K/V row are written by the kernel before this one.
  constexpr bool early = kDecode;
  if constexpr (!early) {
    pdl_wait();
    pdl_trigger();
  }

  if (kDecode && (a.drop & PagedAttentionArgs::kDropAll)) {
    pdl_wait();
    pdl_trigger();
    return;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int32_t hq = a.num_q_heads, hk = a.num_kv_heads, group = hq / hk;

  // ---- which rows, which keys ----
  int32_t seq, kvh, row0 = 0;  // row0: first sequence-local row (prefill)
  int64_t tok = 0;             // decode: the query token
  if constexpr (kDecode) {
    tok = blockIdx.x / hk;
    kvh = int32_t(blockIdx.x % hk);
    // A decode batch has one row per sequence: row tok is sequence tok's, checked with two loads
    // issued together (the binary search is ~log2(num_seqs) dependent loads, before any K/V load).
    if (a.num_seqs == 1) seq = 0;
    else if (tok < a.num_seqs && a.query_start_loc[tok] == tok && a.query_start_loc[tok + 1] == tok + 1) seq = int32_t(tok);
    else seq = seq_of_token(a.query_start_loc, a.num_seqs, tok);
  } else {
    kvh = int32_t(blockIdx.y);
    // Longest tiles (last rows of a sequence) first: reversed block order.
    find_tile(a, group, int32_t(gridDim.x - 1 - blockIdx.x), &s_seq, &s_local);
    __syncthreads();
    seq = s_seq;
    if (seq < 0) return;
    row0 = s_local * C::kRows;
  }
  const int32_t q_start = a.query_start_loc[seq], q_len = a.query_start_loc[seq + 1] - q_start;
  const int32_t past = a.seq_lens[seq] - q_len;  // cached positions before this sequence's queries
  const int32_t* table = a.block_tables + int64_t(seq) * a.max_blocks_per_seq;
  const int32_t n_rows = kDecode ? group : min(C::kRows, q_len * group - row0);
  // Causal limit (keys < limit are visible) of block-local row r, r clamped to the valid rows.
  auto row_limit = [&](int r) -> int32_t {
    if constexpr (kDecode) return past + int32_t(tok - q_start) + 1;
    return past + (row0 + min(r, n_rows - 1)) / group + 1;
  };
  int32_t key_begin = 0, key_end = row_limit(C::kRows - 1);
  int32_t used_splits = 1;  // decode: splits that see keys (the first used_splits of num_splits)
  bool in_cluster = false;  // decode: this block takes part in its cluster's merge
  if constexpr (kDecode) {
    const int32_t tiles = (key_end + kTileKeys - 1) / kTileKeys;  // >= 1: the token sees itself
    const int32_t per = max((tiles + a.num_splits - 1) / a.num_splits,
                            min(kLongSplitTiles, (tiles + kShortSplits - 1) / kShortSplits));
    used_splits = min(a.num_splits, (tiles + per - 1) / per);
    // The same for every block of a cluster (one token, one KV head): all or none take part.
    in_cluster = used_splits > 1 && used_splits <= a.cluster_splits && int32_t(blockIdx.y) < a.cluster_splits;
    if (a.drop & PagedAttentionArgs::kDropMerge) used_splits = 1, in_cluster = false;
    // Blocks past num_splits (the grid's rounding) start at t0 >= num_splits * per >= tiles.
    const int32_t t0 = int32_t(blockIdx.y) * per, t1 = min(tiles, t0 + per);
    if (t1 <= t0) {  // past the context: no state, no count (the wait first: see pdl.cuh)
      pdl_wait();
      if (!(a.drop & PagedAttentionArgs::kNoTrigger)) pdl_trigger();
      if (in_cluster) {  // both barriers of merge_in_cluster (block 0 is never past the context)
        cluster_arrive();
        cluster_wait();
        cluster_arrive();
        cluster_wait();
      }
      return;
    }
    key_begin = t0 * kTileKeys;
    key_end = min(key_end, t1 * kTileKeys);
  }
  const int32_t n_tiles = (key_end - key_begin + kTileKeys - 1) / kTileKeys;
  const int32_t mask_from = kDecode ? key_end - kTileKeys : row_limit(0) - kTileKeys;  // tiles past it need masks

  // ---- Q tile (rows past the valid ones: zeros for decode, the last valid row for prefill) ----
  auto issue_q = [&] {
    for (int i = threadIdx.x; i < C::kRows * C::kChunks; i += kThreads) {
      const int r = i / C::kChunks, ch = i % C::kChunks;
      int64_t qrow;
      bool valid = true;
      if constexpr (kDecode) {
        valid = r < group;
        qrow = tok * hq + kvh * group + (valid ? r : 0);
      } else {
        const int32_t rr = row0 + min(r, n_rows - 1);
        qrow = int64_t(q_start + rr / group) * hq + kvh * group + rr % group;
      }
      cp_async16(qs + swz<D>(r, ch), q + qrow * D + ch * 8, valid);
    }
  };
  if constexpr (!early) issue_q();
  auto kbuf = [&](int b) { return ks0 + b * kTileKeys * D; };
  auto vbuf = [&](int b) { return ks0 + (2 + b) * kTileKeys * D; };
  // K/V tile gathering: this thread copies 16-byte chunk lch of rows lrow + k * kRowStep. The block
  // ids of those rows are read from the block table one tile ahead (pblk), so the table lookup's
  // latency does not add to the K/V load's. K and V are separate cp.async groups, waited on
  // separately: K0 V0, then K and V of tile it + 1 at the start of tile it.
  constexpr int kRowStep = kThreads / C::kChunks;
  constexpr int kRowsPerThread = kTileKeys / kRowStep;
  const int lrow = threadIdx.x / C::kChunks, lch = threadIdx.x % C::kChunks;
  const int32_t bs = a.block_size;
  const bool bs_pow2 = (bs & (bs - 1)) == 0;
  const int bs_log = __popc(bs - 1);
  int32_t pblk[kRowsPerThread];  // block id of each row of the next tile to issue; -1 past key_end
  auto fetch_table = [&](int it) {
    const int32_t key0 = key_begin + it * kTileKeys;
#pragma unroll
    for (int k = 0; k < kRowsPerThread; ++k) {
      const int32_t key = key0 + lrow + k * kRowStep;
      pblk[k] = it < n_tiles && key < key_end ? table[bs_pow2 ? key >> bs_log : key / bs] : -1;
    }
  };
  // The 16-byte chunk offset (lch) of row k of tile it in a layer's K or V: 32 bits (a layer's K or V
  // up to 64 GiB, checked in CudaOps::attention); kNone past key_end. Session 16, ncu on a 32 x
  // 512-token prefill: the integer pipe was the busiest, K's and V's addresses each computed in 64 bits
  // per row; now once per row and tile for both.
  constexpr uint32_t kNone = 0xffffffffu;
  auto chunk_off = [&](int it, int k) -> uint32_t {
    const int32_t key = key_begin + it * kTileKeys + lrow + k * kRowStep;
    const uint32_t slot = uint32_t(pblk[k]) * uint32_t(bs) + uint32_t(bs_pow2 ? key & (bs - 1) : key % bs);
    return pblk[k] >= 0 ? (slot * uint32_t(hk) + uint32_t(kvh)) * uint32_t(C::kChunks) + uint32_t(lch) : kNone;
  };
  auto copy_chunk = [&](bf16* dst, const bf16* cache, int k, uint32_t off) {
    cp_async16(dst + swz<D>(lrow + k * kRowStep, lch), cache + (off == kNone ? 0 : int64_t(off) * 8), off != kNone);
  };
  // Rows of tile it: all, all but key `except`, or only key `only` (-1: no such restriction).
  auto issue_rows = [&](bf16* dst, const bf16* cache, int it, int32_t except, int32_t only) {
    if (it < n_tiles) {
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) {
        const int32_t key = key_begin + it * kTileKeys + lrow + k * kRowStep;
        if (key == except || (only >= 0 && key != only)) continue;
        copy_chunk(dst, cache, k, chunk_off(it, k));
      }
    }
  };
  // All rows of tile it, K then V (a cp.async group each), the offsets computed once for both.
  auto issue_kv = [&](bf16* kdst, bf16* vdst, int it) {
    uint32_t off[kRowsPerThread];
    if (it < n_tiles) {
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) off[k] = chunk_off(it, k);
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) copy_chunk(kdst, k_cache, k, off[k]);
    }
    cp_async_commit();
    if (it < n_tiles) {
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) copy_chunk(vdst, v_cache, k, off[k]);
    }
    cp_async_commit();
  };
  fetch_table(0);
  if constexpr (early) {
    // Tile 0 without the token's own key (if it is there), then after the wait Q and that key.
    const int32_t own = row_limit(0) - 1;
    if (!(a.drop & PagedAttentionArgs::kDropCachedKV)) {
      issue_rows(kbuf(0), k_cache, 0, own, -1);
      issue_rows(vbuf(0), v_cache, 0, own, -1);
    }
    cp_async_commit();
    pdl_wait();
    if (!(a.drop & PagedAttentionArgs::kNoTrigger)) pdl_trigger();
    issue_q();
    if (own >= key_begin && own < key_begin + kTileKeys) {
      issue_rows(kbuf(0), k_cache, 0, -1, own);
      issue_rows(vbuf(0), v_cache, 0, -1, own);
    }
    cp_async_commit();
  } else {
    issue_kv(kbuf(0), vbuf(0), 0);  // groups: Q + K0, V0
  }
  fetch_table(1);

  const int rw = kDecode ? 0 : warp * 16;         // this warp's first row in the tile
  const int kw = kDecode ? warp * 16 : 0;         // this warp's first key in the tile
  const int g = lane >> 2, c = lane & 3;
  const int32_t lim0 = row_limit(rw + g), lim1 = row_limit(rw + g + 8);
  const float sl2 = a.scale * 1.4426950408889634f;  // scores in log2 units

  uint32_t qf[C::kKsteps][4];
  float o[C::kDt][4];
#pragma unroll
  for (int i = 0; i < C::kDt; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // rows g and g + 8 (l: this thread's part)

  for (int it = 0; it < n_tiles; ++it) {
    const int b = it & 1;
    const int32_t key0 = key_begin + it * kTileKeys;
    if (early && it == 0) cp_async_wait<0>();  // Q, tile 0 and the token's key: the last group
    else cp_async_wait<1>();
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < C::kKsteps; ++kk)
        ldmatrix_x4(qf[kk], qs + swz<D>(rw + (lane & 15), 2 * kk + (lane >> 4)));
      __syncthreads();  // K buffer 1 (Q's staging) is overwritten below
    }
    // Every warp is past tile it - 1: buffers b ^ 1 are free for tile it + 1, a whole tile ahead.
    issue_kv(kbuf(b ^ 1), vbuf(b ^ 1), it + 1);
    fetch_table(it + 2);
    if (kDecode && (a.drop & PagedAttentionArgs::kDropCompute)) {
      cp_async_wait<2>();
      __syncthreads();
      m0 = m1 = 0.f, l0 = l1 = 1.f;
      continue;
    }
    // S = Q K^T for this warp's 16 rows x kWarpKeys keys.
    float s[C::kNt][4];
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
    const bf16* kt = kbuf(b);
#pragma unroll
    for (int kk = 0; kk < C::kKsteps; ++kk) {
#pragma unroll
      for (int j = 0; j < C::kNt; j += 2) {
        uint32_t kb[4];
        ldmatrix_x4(kb, kt + swz<D>(kw + 8 * (j + (lane >> 4)) + (lane & 7), 2 * kk + ((lane >> 3) & 1)));
        mma_bf16(s[j], qf[kk], kb[0], kb[1]);
        mma_bf16(s[j + 1], qf[kk], kb[2], kb[3]);
      }
    }

    // Online softmax on the fragments (rows g, g + 8; keys kw + 8j + 2c + {0, 1}). Maxima are
    // taken on raw scores (scale > 0), running maxima m0/m1 are in scaled log2 units.
    const bool need_mask = key0 > mask_from;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) {
      if (need_mask) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int32_t key = key0 + kw + 8 * j + 2 * c + (e & 1);
          if (key >= (e < 2 ? lim0 : lim1)) s[j][e] = -INFINITY;
        }
      }
      mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
      mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    mx0 = fmaxf(m0, mx0 * sl2), mx1 = fmaxf(m1, mx1 * sl2);
    // A row that has seen no key yet keeps max -inf: use 0 so that exp2 gives 0, not NaN.
    const float u0 = mx0 == -INFINITY ? 0.f : mx0, u1 = mx1 == -INFINITY ? 0.f : mx1;
    const float corr0 = exp2f(m0 - u0), corr1 = exp2f(m1 - u1);
    m0 = mx0, m1 = mx1;
    l0 *= corr0, l1 *= corr1;
#pragma unroll
    for (int i = 0; i < C::kDt; ++i) o[i][0] *= corr0, o[i][1] *= corr0, o[i][2] *= corr1, o[i][3] *= corr1;
    uint32_t pf[C::kNt / 2][4];
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) {
      const float p0 = exp2f(fmaf(s[j][0], sl2, -u0)), p1 = exp2f(fmaf(s[j][1], sl2, -u0));
      const float p2 = exp2f(fmaf(s[j][2], sl2, -u1)), p3 = exp2f(fmaf(s[j][3], sl2, -u1));
      l0 += p0 + p1, l1 += p2 + p3;
      pf[j / 2][(j & 1) * 2] = pack_bf16(p0, p1);
      pf[j / 2][(j & 1) * 2 + 1] = pack_bf16(p2, p3);
    }

    cp_async_wait<2>();  // V of tile it (K and V of tile it + 1 may still be in flight)
    __syncthreads();
    // O += P V: k-steps over this warp's keys, n-tiles over the head dim (pairs per ldmatrix).
    const bf16* vt = vbuf(b);
#pragma unroll
    for (int ks = 0; ks < C::kNt / 2; ++ks) {
#pragma unroll
      for (int dt = 0; dt < C::kDt; dt += 2) {
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, vt + swz<D>(kw + 16 * ks + (lane & 15), dt + (lane >> 4)));
        mma_bf16(o[dt], pf[ks], vb[0], vb[1]);
        mma_bf16(o[dt + 1], pf[ks], vb[2], vb[3]);
      }
    }
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);

  if constexpr (!kDecode) {
    // Each warp writes its own rows, normalized.
    const float inv0 = 1.f / l0, inv1 = 1.f / l1;  // every valid row saw key 0: l > 0
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = rw + g + 8 * half;
      if (r >= n_rows) continue;
      const int32_t rr = row0 + r;
      bf16* orow = out + (int64_t(q_start + rr / group) * hq + kvh * group + rr % group) * D;
      const float inv = half ? inv1 : inv0;
#pragma unroll
      for (int dt = 0; dt < C::kDt; ++dt) {
        const __nv_bfloat162 v = __floats2bfloat162_rn(o[dt][2 * half] * inv, o[dt][2 * half + 1] * inv);
        *reinterpret_cast<__nv_bfloat162*>(orow + dt * 8 + 2 * c) = v;
      }
    }
  } else {
    // Merge the 4 warps' states (fp32, in the now idle K/V buffers), then one row per (head, dim).
    cp_async_wait<0>();
    __syncthreads();
    float* so = reinterpret_cast<float*>(ks0);  // [4][16][D]
    float* sm = so + 4 * 16 * D;                // [4][16] max, [4][16] sum
    float* sl = sm + 4 * 16;
#pragma unroll
    for (int dt = 0; dt < C::kDt && !(a.drop & PagedAttentionArgs::kDropWarpMerge); ++dt) {
      *reinterpret_cast<float2*>(so + (warp * 16 + g) * D + dt * 8 + 2 * c) = make_float2(o[dt][0], o[dt][1]);
      *reinterpret_cast<float2*>(so + (warp * 16 + g + 8) * D + dt * 8 + 2 * c) = make_float2(o[dt][2], o[dt][3]);
    }
    if (c == 0) {
      sm[warp * 16 + g] = m0, sm[warp * 16 + g + 8] = m1;
      sl[warp * 16 + g] = l0, sl[warp * 16 + g + 8] = l1;
    }
    if (!(a.drop & PagedAttentionArgs::kDropWarpMerge)) __syncthreads();
    const bool split = used_splits > 1;
    float* const st = sl + 64;  // in_cluster: this block's state (see merge_in_cluster)
    for (int i = threadIdx.x; i < group * (D / 4); i += kThreads) {
      const int r = i / (D / 4), d4 = (i % (D / 4)) * 4;
      float mall = -INFINITY;
#pragma unroll
      for (int w = 0; w < 4; ++w) mall = fmaxf(mall, sm[w * 16 + r]);  // finite: some warp saw a key
      float lall = 0.f;
      float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        const float wt = exp2f(sm[w * 16 + r] - mall);  // 0 for a warp that saw no key (m = -inf)
        lall += sl[w * 16 + r] * wt;
        const float4 x = *reinterpret_cast<const float4*>(so + (w * 16 + r) * D + d4);
        acc.x += x.x * wt, acc.y += x.y * wt, acc.z += x.z * wt, acc.w += x.w * wt;
      }
      const int64_t th = tok * hq + kvh * group + r;
      if (in_cluster) {
        *reinterpret_cast<float4*>(st + r * D + d4) = acc;
        if (d4 == 0) st[group * D + r] = mall * 0.6931471805599453f, st[group * D + group + r] = lall;
      } else if (split) {
        const int64_t part = th * a.num_splits + blockIdx.y;
        *reinterpret_cast<float4*>(a.part_acc + part * D + d4) = acc;
        if (d4 == 0) {
          a.part_ml[2 * part] = mall * 0.6931471805599453f;  // natural-log units for the merge
          a.part_ml[2 * part + 1] = lall;
        }
      } else {
        const float inv = 1.f / lall;
        __nv_bfloat162 v[2] = {__floats2bfloat162_rn(acc.x * inv, acc.y * inv),
                               __floats2bfloat162_rn(acc.z * inv, acc.w * inv)};
        *reinterpret_cast<uint2*>(out + th * D + d4) = *reinterpret_cast<const uint2*>(v);
      }
    }
    // merge_if_last reuses all of the K/V buffers (the states above are read before its first
    // barrier); merge_in_cluster's st and weights lie past so/sm/sl.
    if (in_cluster) {
      const int32_t merged = a.drop & PagedAttentionArgs::kDropMergeReads ? 1 : used_splits;
      merge_in_cluster<D, kThreads>(tok * hq + int64_t(kvh) * group, group, merged, st, st + group * (D + 2), out);
    } else if (split) {
      merge_if_last<D, kThreads>(a, tok, kvh, group, used_splits, so, C::kSmemBytes / 4, out);
    }
  }
}

// The kernel, opted in to > 48 KiB of dynamic shared memory once per process (a function
// attribute, not stream work: safe before a CUDA graph capture, and not repeated per launch).
template <int D, bool kDecode>
auto tc_kernel() {
  auto kernel = paged_attention_tc_kernel<D, kDecode>;
  static const bool opted_in = [&] {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, TcCfg<D, kDecode>::kSmemBytes));
    return true;
  }();
  (void)opted_in;
  return kernel;
}

template <int D, bool kDecode>
void launch_tc(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionArgs& a, bf16* out,
               cudaStream_t stream) {
  using C = TcCfg<D, kDecode>;
  auto kernel = tc_kernel<D, kDecode>();
  const int64_t group = a.num_q_heads / a.num_kv_heads;
  dim3 grid, cluster{1, 1, 1};
  if constexpr (kDecode) {  // clusters of c blocks along y: one token's splits 0 .. c - 1 share one
    const int32_t c = std::max(a.cluster_splits, 1);
    grid = dim3(unsigned(a.num_tokens * a.num_kv_heads), unsigned((a.num_splits + c - 1) / c * c));
    cluster.y = unsigned(c);
  } else {
    grid = dim3(unsigned((a.num_tokens * group + C::kRows - 1) / C::kRows + a.num_seqs), unsigned(a.num_kv_heads));
  }
  launch_pdl_clustered(kernel, grid, cluster, dim3(kThreads), C::kSmemBytes, stream, q, k_cache, v_cache, a, out);
}

template <int D>
int decode_blocks_per_sm() {
  static const int n = [] {
    int blocks = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, tc_kernel<D, true>(), kThreads,
                                                             TcCfg<D, true>::kSmemBytes));
    return std::max(blocks, 1);
  }();
  return n;
}

}  // namespace

bool paged_attention_clusters_supported() {
  static const bool supported = [] {
    int dev = 0, major = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    return major >= 9;
  }();
  return supported;
}

int paged_attention_decode_blocks_per_sm(int32_t head_dim) {
  return head_dim == 64 ? decode_blocks_per_sm<64>() : decode_blocks_per_sm<128>();
}

void launch_paged_attention_tc(const bf16* q, const bf16* k_cache, const bf16* v_cache, const PagedAttentionArgs& a,
                               bool decode, bf16* out, cudaStream_t stream) {
  DS_CHECK(a.head_dim == 64 || a.head_dim == 128) << a.head_dim;
  DS_CHECK(!decode || a.num_q_heads / a.num_kv_heads <= 16) << a.num_q_heads << " " << a.num_kv_heads;
  DS_CHECK(!decode || a.num_splits == 1 || (a.part_ml && a.part_acc && a.split_counters));
  DS_CHECK(decode || a.num_splits == 1);
  DS_CHECK(a.cluster_splits <= 8 && (a.cluster_splits <= 1 || decode)) << a.cluster_splits;
  if (a.head_dim == 64) {
    decode ? launch_tc<64, true>(q, k_cache, v_cache, a, out, stream)
           : launch_tc<64, false>(q, k_cache, v_cache, a, out, stream);
  } else {
    decode ? launch_tc<128, true>(q, k_cache, v_cache, a, out, stream)
           : launch_tc<128, false>(q, k_cache, v_cache, a, out, stream);
  }
}

}  // namespace ds::cuda
