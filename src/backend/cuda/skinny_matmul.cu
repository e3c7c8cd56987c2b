// Skinny matmul for decode: out[T, N] = x[T, K] @ w[N, K]^T (+ bias) for T <= 2 rows, where the
// matmul is a pure stream over the weights and cuBLASLt's tiled kernels leave bandwidth unused on
// the smaller matrices (o_proj, q/k/v: 40-65% of the copy bandwidth on an H200, see
// bench/results/cuda_bench_ops_h200_v2.txt).
// One warp per output column n: its 32 lanes stream w's row n in 16-byte words (U words in flight
// per lane, loads that bypass L1 so that x stays there) and multiply each word with the same 8
// elements of every x row (x is read through the read-only cache: all warps of an SM share it).
// fp32 accumulation; the lanes' partial sums are combined with a butterfly; lane t writes row t.
// Measured on an H200 (bench/results/lead_run1): at T=1 it beats cuBLASLt on every projection of the
// 7B (o_proj 61% vs 39% of the copy bandwidth, q/k/v 67% vs 63%, gate/up 98% vs 91%); at T=4 and 8 it
// loses (x is re-read from L1 once per column), so only T <= 2 comes here.
// Batch-invariant mode (--batch-invariant) runs every matmul through this kernel, one row per grid.y
// index: each output element is then the same sum in the same order whatever T is (it depends on K
// only), which cuBLASLt cannot promise (its kernel choice, tiles and split-K depend on T). Correct
// for any T, but a weight pass per row: slow for prefill.
// Epilogues: store (+ bias), add into the fp32 residual (and the last block's norm of the updated
// row), SwiGLU of a gate/up pair, and rope + K/V store of a q/k/v pair (a decode row's q/k/v).
// Needs K % 8 == 0 and 16-byte aligned x and w (the caller falls back to cuBLASLt otherwise).
// CPU reference: cpu::matmul (tests/gpu/matmul_test.cpp compares both paths against it).
#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_utils.cuh"
#include "backend/cuda/norm_row.cuh"
#include "backend/cuda/pdl.cuh"

namespace ds::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
static_assert(32 * kWarpsPerBlock == kRowThreads, "norm_row.cuh's row norm runs on a whole block");
constexpr int kUnroll = 4;  // 16-byte weight words per lane and chunk (two chunks in flight)

__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  const auto* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const auto* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fa = __bfloat1622float2(a2[i]), fb = __bfloat1622float2(b2[i]);
    s = fmaf(fa.x, fb.x, s);
    s = fmaf(fa.y, fb.y, s);
  }
  return s;
}

template <class T>
__device__ __forceinline__ void store(T* p, float v);
template <>
__device__ __forceinline__ void store<float>(float* p, float v) { *p = v; }
template <>
__device__ __forceinline__ void store<bf16>(bf16* p, float v) { *p = __float2bfloat16(v); }

// What a kernel does with a column's sums: store them (+ bias), add them to the output (the fp32
// residual stream: out = out + (sum + bias), the order of matmul followed by add_rmsnorm's add), or
// (T = 1, no bias) apply SwiGLU to the gate and up rows of a fused [2N, K] weight.
// kRope (T = 1, the q/k/v projection): "column" c is the pair (i, i + d/2) of head c / (d/2),
// rounded to bf16, rotated (q and k heads) and stored (q into out, k and v into their cache slot):
// launch_skinny_qkv_rope.
// kAddNorm (T = 1): kAdd, then the last block of the grid to finish normalizes the updated residual
// row into NormTail::out (launch_skinny_matmul_add_norm).
enum class Epilogue { kStore, kAdd, kSwiglu, kRope, kAddNorm };

// Blocks per SM a launch keeps resident (a register cap for ptxas). The plain store / add launches:
// 4 at T = 1 (<= 64 registers), so that the 7B's 448-block o_proj and down_proj grids are one wave
// (4 blocks on 52 SMs, 3 on the rest; at 3 per SM a second wave of 52 blocks), 3 at T = 2. The
// two-row (SwiGLU, rope) launches: 2 (<= 128 registers). (Uncapped, the partial-chunk code of
// session 12 took the one-row launches to 70-76 registers: 3 blocks per SM.)
// Launches with chunks of 2 x kUnroll words (U, wide_chunks() below): 2 (<= 128 registers; they
// are dealt grids, at most 2 blocks per SM).
template <int T, Epilogue E, int U>
constexpr int kMinBlocks =
    U == kUnroll && (E == Epilogue::kStore || E == Epilogue::kAdd || E == Epilogue::kAddNorm) ? (T == 1 ? 4 : 3) : 2;

// x [T, K], w [N, K] (kSwiglu: [2N, K], gate rows then up rows),
// bias [N] (B = void: none), out [T, N].
// The next U weight words of a lane (U = kUnroll, or 2 x kUnroll: wide_chunks) are loaded while
// the current ones are multiplied (2 x U in flight), and the first ones before pdl_wait(): the
// weights depend on no earlier kernel, so under programmatic dependent launch they stream in while the kernel that writes x (a
// norm, attention, silu) is still running. (H100, bench/results/cuda_h100_session3.md: 7B decode
// 5.645 vs 5.753 ms, 1.5B 1.947 vs 2.079 ms against the plain loop with every load after the wait.)
// kSwiglu: the warp of column n streams rows n and N + n and writes silu(g) * u with g and u
// rounded to bf16 first: bit for bit what the matmul into a bf16 [1, 2N] buffer followed by
// silu_mul gives, without the second kernel.
template <int T, class Out, class B, Epilogue E, int U>
__global__ void __launch_bounds__(32 * kWarpsPerBlock, (kMinBlocks<T, E, U>))
    skinny_matmul_kernel(const bf16* __restrict__ x, const bf16* __restrict__ w, const B* __restrict__ bias,
                         Out* __restrict__ out, int64_t n, int64_t k, QkvRope rs, NormTail nt, bool dealt,
                         bool serial_tail, bool prime_two) {
  constexpr bool kSwiglu = E == Epilogue::kSwiglu, kRope = E == Epilogue::kRope;
  constexpr bool kAdd = E == Epilogue::kAdd || E == Epilogue::kAddNorm;
  static_assert(!kSwiglu || (T == 1 && std::is_void_v<B>), "swiglu: one row, no bias");
  static_assert(!kAdd || std::is_same_v<Out, float>, "add: into the fp32 residual");
  static_assert(E != Epilogue::kAddNorm || T == 1, "add + norm: one row");
  static_assert(!kRope || (T == 1 && std::is_same_v<Out, bf16>), "rope: one q/k/v row");
  constexpr int R = kSwiglu || kRope ? 2 : 1;  // weight rows per warp
  extern __shared__ float angles[];  // kRope: the token's rotation angles (cos then sin)
  const int lane = threadIdx.x & 31;
  // One column per warp (the grid covers n). dealt (grid_of): warp w of block b takes column
  // w * gridDim.x + b, so the columns are spread over every block of the grid instead of filling the
  // first n / kWarpsPerBlock blocks.
  const int64_t warp = threadIdx.x >> 5;
  const int64_t col = dealt ? warp * gridDim.x + blockIdx.x : int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  const int64_t words = k / 8;
  constexpr int64_t kStep = 32 * U;
  // A lane's words come in chunks of U (words at, at + 32, ...), each chunk loaded while the one
  // before is multiplied. The row's last chunk may be partial: its words past the row are neither
  // loaded nor added, so it is pipelined like the others and every word is added in the same order
  // as one at a time. serial_tail (long rows of full grids, see serial_tail() below): the partial
  // chunk's words one at a time after the loop instead.
  const int64_t chunk_end = serial_tail ? words - 32 * (U - 1) : words;
  auto has = [&](int64_t at, int u) { return at + 32 * u < words; };  // word u of the chunk at `at`
  const int64_t half = rs.head_dim / 2;  // kRope
  auto row_of = [&](int64_t c, int r) {
    int64_t row;
    if constexpr (kRope) row = (c / half) * rs.head_dim + c % half + r * half;
    else row = c + r * n;
    return reinterpret_cast<const uint4*>(w + row * k);
  };
  uint4 wv[R][U];
  // The chunk at `at` of column c's rows into dst (words past the row: left as they are, unused).
  auto load_chunk = [&](uint4 (&dst)[R][U], int64_t c, int64_t at) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (has(at, u)) dst[r][u] = load_streaming(row_of(c, r) + at + 32 * u);
  };
  const bool primed = col < n && lane < chunk_end;  // wv holds the first chunk of `col`
  // nx: the chunk after wv (loaded while wv is multiplied). prime_two (rows of two chunks, see
  // prime_two() below): nx is loaded with the second chunk of `col` here, so that only x is loaded
  // after pdl_wait().
  uint4 nx[R][U];
  bool primed2 = primed && prime_two && lane + kStep < chunk_end;
  if (primed) load_chunk(wv, col, lane);
  if (primed2) load_chunk(nx, col, lane + kStep);
  // kRope: the token's angles and its slot; both are inputs of the forward.
  int64_t slot = -1;
  if constexpr (E == Epilogue::kAddNorm) prefetch_norm_weights(nt, n);
  if constexpr (kRope) {
    token_angles(float(rs.positions[0]), rs.inv_freq, half, angles);
    slot = rs.slot_mapping[0];
    if (slot >= rs.num_slots) slot = -1;
  }
  pdl_wait();
  pdl_trigger();
  if constexpr (kRope) __syncthreads();  // the angles
  x += int64_t(blockIdx.y) * T * k;  // row groups of the batch-invariant launch (grid.y > 1)
  out += int64_t(blockIdx.y) * T * n;
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  auto load_x = [&](int64_t word) { return __ldg(xr + word); };
  // The column's sums and epilogue (its first chunk is in wv: `primed`).
  auto run_column = [&] {
    // Epilogue operands, loaded now so that their round trip overlaps the weight stream: the bias
    // (kRope: of the column's two rows) and, kAdd, the residual value lane t adds to.
    float b0 = 0.f, b1 = 0.f, prev = 0.f;
    if constexpr (!std::is_void_v<B>) {
      if constexpr (kRope) {
        const int64_t r0 = (col / half) * rs.head_dim + col % half;
        b0 = to_f32(bias[r0]), b1 = to_f32(bias[r0 + half]);
      } else {
        b0 = to_f32(bias[col]);
      }
    }
    if constexpr (kAdd)
      if (lane < T) prev = out[lane * n + col];
    const uint4* wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r) wr[r] = row_of(col, r);
    float acc[R][T];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < T; ++t) acc[r][t] = 0.f;
    int64_t i = lane;
    for (; i < chunk_end; i += kStep) {
      const bool more = i + kStep < chunk_end;
      if (more && !primed2) load_chunk(nx, col, i + kStep);
      primed2 = false;
      if (has(i, U - 1)) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
          for (int t = 0; t < T; ++t) {
            const uint4 xv = load_x(t * words + i + 32 * u);
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][t] += dot8(wv[r][u], xv);
          }
        }
      } else {  // the row's partial last chunk: x words past the row are read too (the row's last
                // word, unused), so that no branch stands between the loads and they overlap
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
          for (int t = 0; t < T; ++t) {
            const uint4 xv = load_x(t * words + min(i + 32 * u, words - 1));
            if (has(i, u))
#pragma unroll
              for (int r = 0; r < R; ++r) acc[r][t] += dot8(wv[r][u], xv);
          }
        }
      }
      if (more) {
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int u = 0; u < U; ++u) wv[r][u] = nx[r][u];
      }
    }
    for (; i < words; i += 32) {
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const uint4 xv = load_x(t * words + i);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r][t] += dot8(load_streaming(wr[r] + i), xv);
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < T; ++t) acc[r][t] = warp_sum(acc[r][t]);
    if constexpr (kRope) {
      if (lane == 0) {
        const int64_t head = col / half, i = col % half, r0 = head * rs.head_dim + i;
        // The qkv buffer's bf16 values, then rotated as rope_store_kv does.
        float y1 = __bfloat162float(__float2bfloat16(acc[0][0] + b0));
        float y2 = __bfloat162float(__float2bfloat16(acc[1][0] + b1));
        if (head < rs.q_heads + rs.kv_heads) rope_pair(y1, y2, angles[i], angles[half + i], y1, y2);
        bf16* dst = nullptr;
        if (head < rs.q_heads) {
          dst = out + r0;
        } else if (slot >= 0) {
          const bool is_k = head < rs.q_heads + rs.kv_heads;
          const int64_t kvh = head - rs.q_heads - (is_k ? 0 : rs.kv_heads);
          dst = (is_k ? rs.k_cache : rs.v_cache) + (slot * rs.kv_heads + kvh) * rs.head_dim + i;
        }
        if (dst) dst[0] = __float2bfloat16(y1), dst[half] = __float2bfloat16(y2);
      }
    } else if constexpr (kSwiglu) {
      if (lane == 0) {
        const float g = __bfloat162float(__float2bfloat16(acc[0][0])), u = __bfloat162float(__float2bfloat16(acc[1][0]));
        store(out + col, silu_times(g, u));
      }
    } else {
#pragma unroll
      for (int t = 0; t < T; ++t) {
        if (lane != t) continue;
        Out* o = out + t * n + col;
        if constexpr (kAdd) *o = prev + (acc[0][t] + b0);
        else store(o, acc[0][t] + b0);
      }
    }
  };
  // (A loop over several columns per warp cost ~20% on an H200: down_proj T=1 46.7 us against
  // 36.8-38.6.)
  if (col < n) run_column();
  if constexpr (E == Epilogue::kAddNorm) norm_if_last(nt, out, n);
}

// A launch's options: `sms` = the device's multiprocessors (0: unknown, launches without dealing),
// `deal` = spread the columns (DS_SKINNY_DEAL=0: never).
struct LaunchOpts {
  int sms = 0;
  bool deal = false;
};

// A launch's grid (x) and whether its columns are dealt (the kernel's `dealt`): one block per
// kWarpsPerBlock columns. Dealing: a grid of fewer than two blocks per multiprocessor is rounded up to a multiple of the
// multiprocessors and its columns dealt over all its blocks, so that blocks, placed evenly over the
// SMs, carry the same number of columns within one. Without it the 1.5B's o_proj and down_proj (192
// blocks for 1,536 columns) put 2 blocks on 60 SMs and 1 on 72: the slowest SM streams 38% more
// than the mean. H200 (bench/results/cuda_h200_session11.md): 1.5B 128/512 decode 1.581 vs 1.595
// and 1.671 vs 1.687 ms/token. Dealing the 7B's 448-block grids as well (4 or 3 blocks per SM) was
// 0.5-1.5% slower (4.270 vs 4.249, 4.338 vs 4.296 ms/token), so larger grids are left as they are.
struct Grid {
  unsigned blocks;
  bool dealt;
};
template <class Kernel>
Grid grid_of(Kernel kernel, int64_t n, size_t smem, const LaunchOpts& nl) {
  const int64_t blocks = (n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (!nl.deal) return {unsigned(blocks), false};
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 32 * kWarpsPerBlock, smem));
  const int64_t sms = std::max(nl.sms, 1), wave = int64_t(std::max(per_sm, 1)) * sms;
  if (blocks >= wave || blocks >= 2 * sms) return {unsigned(blocks), false};
  return {unsigned(std::min(wave, (blocks + sms - 1) / sms * sms)), true};
}

// Whether a launch takes the kernel's serial_tail (a row's partial last chunk one word at a time after
// the pipelined chunks): where its grid is not dealt (at least two blocks per SM: other warps keep
// the memory busy while one waits) and its rows have at least 3 full chunks (k >= 3,072: the tail is
// at most a seventh of the row). H200, CUDA graphs (bench/results/cuda_h200_session12.md): the 1.5B
// (dealt grids, and k = 1,536: the tail is a third of the row) took 1.484-1.505 ms per token with
// every tail pipelined, 1.545-1.559 with every tail serial, and 1.504 with its dealt down_proj
// (k = 8,960) serial; the 7B (448+-block grids, k = 3,584 and 18,944) took 4.119-4.141 with every
// tail serial against 4.154-4.203 pipelined. DS_SKINNY_SERIAL_TAIL=1 / =0 (A/B runs): every launch
// serial / pipelined; the variable is read once per process.
bool serial_tail(int64_t k, bool dealt) {
  static const int mode = [] {
    const char* e = std::getenv("DS_SKINNY_SERIAL_TAIL");
    return e && std::string_view(e) == "1" ? 1 : e && std::string_view(e) == "0" ? 0 : -1;
  }();
  return mode >= 0 ? mode == 1 : !dealt && k / 8 >= 3 * 32 * kUnroll;
}

// Whether a launch's warps load the first two chunks of their first column before pdl_wait() (the
// kernel's prime_two): rows of more than one and at most two chunks (1,024 < k <= 2,048: the 1.5B's
// q/k/v, o_proj, gate/up and lm_head), whose second chunk would otherwise be requested after the
// wait. H200, CUDA graphs, same-run A/Bs on three machines (bench/results/cuda_h200_session13.md): 1.5B
// 128/512 decode 1.520-1.525 ms per token against 1.603-1.625 without; priming two chunks of every
// row (=2) took the 1.5B to 1.548 and left the 7B where it was (4.164-4.179 vs 4.174).
// DS_SKINNY_PRIME_TWO=0 / =2 (A/B runs): never / rows of any length; read once per process.
bool prime_two(int64_t k) {
  static const int mode = [] {
    const char* e = std::getenv("DS_SKINNY_PRIME_TWO");
    return e && *e ? std::atoi(e) : 1;
  }();
  const int64_t words = k / 8;
  return mode > 0 && words > 32 * kUnroll && (mode == 2 || words <= 2 * 32 * kUnroll);
}

// Whether a dealt one-row launch streams its rows in chunks of 2 x kUnroll words (twice the bytes in
// flight per warp): rows of >= 3 full chunks (k >= 3,072: the 1.5B's down_proj, whose dealt grid has
// ~12 warps per SM, each with a 17.5 KB row). The sums and their order are the same.
// DS_SKINNY_WIDE=0: never (A/B runs); read once per process.
bool wide_chunks(int64_t k, bool dealt) {
  static const bool on = [] {
    const char* e = std::getenv("DS_SKINNY_WIDE");
    return !(e && std::string_view(e) == "0");
  }();
  return on && dealt && k / 8 >= 3 * 32 * kUnroll;
}

template <int T, class Out, Epilogue E, class B>
void launch_kernel(const bf16* x, const bf16* w, const B* bias, Out* out, int64_t n, int64_t k, cudaStream_t stream,
                   int64_t row_groups, const LaunchOpts& nl, const QkvRope& rs = {}, const NormTail& nt = {}) {
  const auto kernel = skinny_matmul_kernel<T, Out, B, E, kUnroll>;
  const size_t smem = E == Epilogue::kRope ? size_t(rs.head_dim) * sizeof(float) : 0;
  DS_CHECK(row_groups >= 1 && row_groups < 65536) << "rows " << row_groups;
  const Grid g = row_groups > 1 ? Grid{unsigned((n + kWarpsPerBlock - 1) / kWarpsPerBlock), false}
                                : grid_of(kernel, n, smem, nl);
  if constexpr (T == 1 && (E == Epilogue::kStore || E == Epilogue::kAdd || E == Epilogue::kAddNorm)) {
    if (row_groups == 1 && wide_chunks(k, g.dealt)) {  // a dealt grid is at most 2 blocks per SM
      launch_pdl(skinny_matmul_kernel<T, Out, B, E, 2 * kUnroll>, dim3{g.blocks, 1u}, dim3{32 * kWarpsPerBlock}, smem,
                 stream, x, w, bias, out, n, k, rs, nt, g.dealt, false, false);
      return;
    }
  }
  launch_pdl(kernel, dim3{g.blocks, unsigned(row_groups)}, dim3{32 * kWarpsPerBlock}, smem, stream, x, w, bias, out,
             n, k, rs, nt, g.dealt, serial_tail(k, g.dealt), prime_two(k));
}

template <int T, class Out, Epilogue E = Epilogue::kStore>
void launch_t(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, Out* out, int64_t n, int64_t k,
              cudaStream_t stream, int64_t row_groups = 1, const LaunchOpts& nl = {}, const QkvRope& rs = {}) {
  if (!bias) {
    launch_kernel<T, Out, E>(x, w, static_cast<const void*>(nullptr), out, n, k, stream, row_groups, nl, rs);
  } else if (bias_dtype == DType::kBF16) {
    launch_kernel<T, Out, E>(x, w, static_cast<const bf16*>(bias), out, n, k, stream, row_groups, nl, rs);
  } else {
    DS_CHECK(bias_dtype == DType::kF32) << "skinny matmul bias dtype " << dtype_name(bias_dtype);
    launch_kernel<T, Out, E>(x, w, static_cast<const float*>(bias), out, n, k, stream, row_groups, nl, rs);
  }
}

template <class Out>
void launch_out(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, Out* out, int64_t t, int64_t n,
                int64_t k, int deal_sms, cudaStream_t stream) {
  const LaunchOpts nl{deal_sms, deal_sms > 0};
  switch (t) {
    case 1: return launch_t<1>(x, w, bias, bias_dtype, out, n, k, stream, 1, nl);
    case 2: return launch_t<2>(x, w, bias, bias_dtype, out, n, k, stream, 1, nl);
    default: DS_CHECK(false) << "skinny matmul rows " << t;
  }
}

}  // namespace

void launch_invariant_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                             DType out_dtype, int64_t t, int64_t n, int64_t k, cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(k > 0 && k % 8 == 0 && ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16) == 0)
      << "batch-invariant matmul needs K % 8 == 0 and 16-byte aligned operands (K " << k << ")";
  if (out_dtype == DType::kF32) {
    launch_t<1>(x, w, bias, bias_dtype, static_cast<float*>(out), n, k, stream, t);
  } else {
    DS_CHECK(out_dtype == DType::kBF16) << "matmul out dtype " << dtype_name(out_dtype);
    launch_t<1>(x, w, bias, bias_dtype, static_cast<bf16*>(out), n, k, stream, t);
  }
}

void launch_invariant_matmul_add(const bf16* x, const bf16* w, float* residual, int64_t t, int64_t n, int64_t k,
                                 cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(k > 0 && k % 8 == 0 && ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16) == 0)
      << "batch-invariant matmul needs K % 8 == 0 and 16-byte aligned operands (K " << k << ")";
  launch_t<1, float, Epilogue::kAdd>(x, w, nullptr, DType::kF32, residual, n, k, stream, t);
}

bool skinny_matmul_supports(int64_t t, int64_t k, const void* x, const void* w) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w);
  return t >= 1 && t <= kSkinnyMatmulMaxRows && k > 0 && k % 8 == 0 && a % 16 == 0;
}

void launch_skinny_swiglu(const bf16* x, const bf16* w_gate_up, int64_t n, int64_t k, bf16* out, int deal_sms,
                          cudaStream_t stream) {
  if (n == 0) return;
  DS_CHECK(skinny_matmul_supports(1, k, x, w_gate_up)) << "k " << k;
  launch_kernel<1, bf16, Epilogue::kSwiglu>(x, w_gate_up, static_cast<const void*>(nullptr), out, n, k, stream, 1,
                                            LaunchOpts{deal_sms, deal_sms > 0});
}

void launch_skinny_matmul(const bf16* x, const bf16* w, const void* bias, DType bias_dtype, void* out,
                          DType out_dtype, int64_t t, int64_t n, int64_t k, int deal_sms, cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(skinny_matmul_supports(t, k, x, w)) << "t " << t << " k " << k;
  if (out_dtype == DType::kF32) {
    launch_out(x, w, bias, bias_dtype, static_cast<float*>(out), t, n, k, deal_sms, stream);
  } else {
    DS_CHECK(out_dtype == DType::kBF16) << "skinny matmul out dtype " << dtype_name(out_dtype);
    launch_out(x, w, bias, bias_dtype, static_cast<bf16*>(out), t, n, k, deal_sms, stream);
  }
}

void launch_skinny_matmul_add(const bf16* x, const bf16* w, float* residual, int64_t t, int64_t n, int64_t k,
                              int deal_sms, cudaStream_t stream) {
  if (t == 0 || n == 0) return;
  DS_CHECK(skinny_matmul_supports(t, k, x, w)) << "t " << t << " k " << k;
  const LaunchOpts nl{deal_sms, deal_sms > 0};
  if (t == 1) launch_t<1, float, Epilogue::kAdd>(x, w, nullptr, DType::kF32, residual, n, k, stream, 1, nl);
  else launch_t<2, float, Epilogue::kAdd>(x, w, nullptr, DType::kF32, residual, n, k, stream, 1, nl);
}

void launch_skinny_matmul_add_norm(const bf16* x, const bf16* w, float* residual, int64_t n, int64_t k,
                                   const bf16* norm_w, float eps, bf16* normed, int32_t* counter, int deal_sms,
                                   cudaStream_t stream) {
  if (n == 0) return;
  DS_CHECK(skinny_add_norm_supports(k, n, x, w, residual, normed) && counter) << "k " << k << " n " << n;
  launch_kernel<1, float, Epilogue::kAddNorm>(x, w, static_cast<const void*>(nullptr), residual, n, k, stream, 1,
                                              LaunchOpts{deal_sms, deal_sms > 0}, QkvRope{},
                                              NormTail{norm_w, eps, normed, counter});
}

bool skinny_add_norm_supports(int64_t k, int64_t n, const void* x, const void* w, const void* residual,
                              const void* normed) {
  return skinny_matmul_supports(1, k, x, w) && n % 4 == 0 && n <= kSkinnyNormMaxHidden &&
         reinterpret_cast<uintptr_t>(residual) % 16 == 0 && reinterpret_cast<uintptr_t>(normed) % 8 == 0;
}

void launch_skinny_qkv_rope(const bf16* x, const bf16* w_qkv, const void* bias, DType bias_dtype, bf16* qkv,
                            const QkvRope& r, int64_t k, int deal_sms, cudaStream_t stream) {
  DS_CHECK(skinny_matmul_supports(1, k, x, w_qkv) && r.head_dim > 0 && r.head_dim % 2 == 0 && r.q_heads > 0 &&
           r.kv_heads > 0 && r.q_heads % r.kv_heads == 0)
      << "k " << k << " head_dim " << r.head_dim << " heads " << r.q_heads << "/" << r.kv_heads;
  const int64_t pairs = int64_t(r.q_heads + 2 * r.kv_heads) * (r.head_dim / 2);
  launch_t<1, bf16, Epilogue::kRope>(x, w_qkv, bias, bias_dtype, qkv, pairs, k, stream, 1,
                                     LaunchOpts{deal_sms, deal_sms > 0}, r);
}

}  // namespace ds::cuda
