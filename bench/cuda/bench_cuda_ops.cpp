// Per-kernel benchmark of the CUDA backend at R1-Distill-Qwen-7B shapes (hidden 3584, 28 q heads,
// 4 kv heads, head_dim 128, intermediate 18944), printing each op's time next to its limit measured
// in the same run: device copy bandwidth (bytes read + written) for memory-bound ops, and the best
// bf16 GEMM rate seen here for compute-bound ones. Inputs are random (never zeros); weights rotate
// over enough copies to defeat the L2. Timing: host clock around many launches, synchronized
// (the backend boundary exposes no events), after a warm-up. Attention also runs its kernels
// directly through the launcher (cuda_kernels.h) to compare the old and new kernels.
// Usage: bench_cuda_ops [SECTION...]   (one GPU; prints a table; sections: projections, swiglu,
// layer, elementwise, rope, attention, sampling; none named: all of those; hot, sampling_peaked (the
// sampler's peaked rows only, for ncu): only when named)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <string_view>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/sampling.h"
#include "copy_bandwidth.h"

namespace ds {
namespace {

Backend* g_be = nullptr;

// A device bf16 buffer of n random values in [-1, 1) (xorshift; cheap for GB-sized fills).
std::unique_ptr<DeviceBuffer> random_bf16(size_t n, uint64_t seed) {
  std::vector<uint16_t> h(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& v : h) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    v = f32_to_bf16(float(int32_t(s >> 40) - (1 << 23)) / float(1 << 23));
  }
  auto b = g_be->alloc(n * 2);
  g_be->copy_to_device(b->data(), h.data(), n * 2);
  return b;
}

template <class T>
std::unique_ptr<DeviceBuffer> upload(const std::vector<T>& v) {
  auto b = g_be->alloc(std::max<size_t>(v.size() * sizeof(T), 16));
  g_be->copy_to_device(b->data(), v.data(), v.size() * sizeof(T));
  return b;
}

// Median seconds per call of fn(i) over `reps` timed batches of `inner` calls.
double time_op(const std::function<void(int)>& fn, int inner = 20, int reps = 7,
               const std::function<void()>& sync = [] { g_be->synchronize(); }) {
  for (int i = 0; i < 3; ++i) fn(i);
  sync();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) fn(i);
    sync();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Cache block ids 0 .. n - 1 in order, or dealt out in a fixed random order (scattered: an engine's
// tables after many allocations and frees; Fisher-Yates with xorshift64, the same order every run).
std::vector<int32_t> block_order(int32_t n, bool scattered, uint64_t seed) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size(); scattered && i > 1; --i) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    std::swap(order[i - 1], order[size_t(seed % i)]);
  }
  return order;
}

void row(const char* name, double sec, double bytes, double flops, double bw, double peak_flops) {
  std::printf("%-34s %9.1f us %8.0f GB/s %6.1f%% BW %8.1f TFLOP/s %6.1f%% MM\n", name, sec * 1e6, bytes / sec / 1e9,
              100 * bytes / sec / bw, flops / sec / 1e12, 100 * flops / sec / peak_flops);
}

// Sections to run: all, or those named on the command line (projections, swiglu, layer,
// elementwise, rope, attention, sampling).
void run(const std::vector<std::string_view>& only) {
  const auto want = [&](std::string_view section) {
    return only.empty() || std::find(only.begin(), only.end(), section) != only.end();
  };
  auto be = make_cuda_backend({});
  g_be = be.get();
  Ops& ops = be->ops();
  const int64_t h = 3584, hq = 28, hk = 4, d = 128, inter = 18944;

  // Copy bandwidth: 2 GiB device-to-device (shared with bench_cuda_decode).
  const double bw = measure_copy_bandwidth(*be);

  // GEMM rate: 8192^3 bf16.
  const int64_t m = 8192;
  auto a = random_bf16(size_t(m * m), 2), b = random_bf16(size_t(m * m), 3), c = be->alloc(size_t(m * m) * 2);
  const Tensor ta(a->data(), DType::kBF16, {m, m}), tb(b->data(), DType::kBF16, {m, m}),
      tc(c->data(), DType::kBF16, {m, m});
  const double mm_s = time_op([&](int) { ops.matmul(ta, tb, Tensor(), tc); }, 5, 5);
  const double peak = 2.0 * double(m) * double(m) * double(m) / mm_s;
  a.reset(), b.reset(), c.reset();
  std::printf("limits: copy %.0f GB/s (read+write), bf16 GEMM 8192^3 %.1f TFLOP/s\n\n", bw / 1e9, peak / 1e12);
  std::printf("%-34s %12s %13s %9s %16s %9s\n", "op", "time", "achieved", "", "", "");

  // Projections of one layer (weights rotate over 4 copies so the L2 cannot hold them).
  if (want("projections")) {
    // The 1.5B's decode projections (hidden 1536, 12 q / 2 kv heads, intermediate 8960) at T=1 only.
    struct Proj { const char* name; int64_t n, k; bool small = false; };
    for (const Proj p : {Proj{"qkv", hq * d + 2 * hk * d, h}, Proj{"o_proj", h, hq * d}, Proj{"gate_up", 2 * inter, h},
                         Proj{"down", h, inter}, Proj{"lm_head", 152064, h}, Proj{"k or v", hk * d, h},
                         Proj{"gate or up", inter, h}, Proj{"1.5B qkv", 2048, 1536, true},
                         Proj{"1.5B o_proj", 1536, 1536, true}, Proj{"1.5B gate_up", 17920, 1536, true},
                         Proj{"1.5B down", 1536, 8960, true}}) {
      std::vector<std::unique_ptr<DeviceBuffer>> ws;
      for (int i = 0; i < 4; ++i) ws.push_back(random_bf16(size_t(p.n * p.k), 10 + i));
      // T <= 2 runs the skinny (decode) kernel; DS_NO_SKINNY_MATMUL=1 gives cuBLASLt's rows to compare.
      for (int64_t t : {1, 2, 4, 32, 256, 2048}) {
        if (p.n > 100000 && t > 8) continue;  // lm_head: only the sampled rows of a decode step
        if (p.small && t > 1) continue;
        auto x = random_bf16(size_t(t * p.k), 5), y = be->alloc(size_t(t * p.n) * 2);
        const Tensor tx(x->data(), DType::kBF16, {t, p.k}), ty(y->data(), DType::kBF16, {t, p.n});
        const double s = time_op([&](int i) {
          ops.matmul(tx, Tensor(ws[size_t(i % 4)]->data(), DType::kBF16, {p.n, p.k}), Tensor(), ty);
        });
        char name[64];
        std::snprintf(name, sizeof name, "matmul %s T=%ld [%ldx%ld]", p.name, long(t), long(p.n), long(p.k));
        row(name, s, 2.0 * double(p.n * p.k + t * p.k + t * p.n), 2.0 * double(t * p.n * p.k), bw, peak);
      }
    }
  }

  // The decode row's gate/up projection with SwiGLU: CUDA's one kernel against the op's default
  // (matmul into a [1, 2I] buffer, then silu_mul), same weights (rotating over 4 copies).
  if (want("swiglu")) {
    {
      std::vector<std::unique_ptr<DeviceBuffer>> ws;
      for (int i = 0; i < 4; ++i) ws.push_back(random_bf16(size_t(2 * inter * h), 30 + i));
      auto x = random_bf16(size_t(h), 34), gu = be->alloc(size_t(2 * inter) * 2), y = be->alloc(size_t(inter) * 2);
      const Tensor tx(x->data(), DType::kBF16, {1, h}), tgu(gu->data(), DType::kBF16, {1, 2 * inter}),
          ty(y->data(), DType::kBF16, {1, inter});
      auto w = [&](int i) { return Tensor(ws[size_t(i % 4)]->data(), DType::kBF16, {2 * inter, h}); };
      const double bytes = 2.0 * double(2 * inter * h + h + inter);
      row("gate_up_silu T=1 (one kernel)", time_op([&](int i) { ops.gate_up_silu(tx, w(i), tgu, ty); }), bytes, 0, bw, peak);
      row("gate_up_silu T=1 (matmul+silu)", time_op([&](int i) { ops.Ops::gate_up_silu(tx, w(i), tgu, ty); }), bytes, 0, bw,
          peak);
    }
  }

  // A batch's MLP first half: gate_up_silu (one matmul into [T, 2I], one silu_mul pass over the
  // halves) against two matmuls and silu_mul (the unfused decoder, DS_NO_BATCH_GATE_UP=1).
  if (want("swiglu")) {
    {
      std::vector<std::unique_ptr<DeviceBuffer>> ws;
      for (int i = 0; i < 4; ++i) ws.push_back(random_bf16(size_t(2 * inter * h), 40 + i));
      for (int64_t t : {256, 2048, 16384}) {
        auto x = random_bf16(size_t(t * h), 44), gu = be->alloc(size_t(t * 2 * inter) * 2), y = be->alloc(size_t(t * inter) * 2);
        const Tensor tx(x->data(), DType::kBF16, {t, h}), tgu(gu->data(), DType::kBF16, {t, 2 * inter}),
            ty(y->data(), DType::kBF16, {t, inter}), tup(gu->data(), DType::kBF16, {t, inter});
        auto w = [&](int i) { return Tensor(ws[size_t(i % 4)]->data(), DType::kBF16, {2 * inter, h}); };
        auto half = [&](int i, int64_t r0) {
          return Tensor(static_cast<uint16_t*>(ws[size_t(i % 4)]->data()) + r0 * h, DType::kBF16, {inter, h});
        };
        const double flops = 2.0 * double(t * 2 * inter * h);
        char name[64];
        std::snprintf(name, sizeof name, "gate_up_silu T=%ld (one matmul)", long(t));
        row(name, time_op([&](int i) { ops.gate_up_silu(tx, w(i), tgu, ty); }, 10, 5), 0, flops, bw, peak);
        std::snprintf(name, sizeof name, "gate_up_silu T=%ld (two + silu)", long(t));
        row(name, time_op([&](int i) {
              ops.matmul(tx, half(i, 0), Tensor(), ty);
              ops.matmul(tx, half(i, inter), Tensor(), tup);
              ops.silu_mul(ty, tup, ty);
            }, 10, 5), 0, flops, bw, peak);
      }
    }
  }

  // A decode row's fused layer boundaries (decoder.cpp layer) against the ops' defaults: o_proj and
  // down_proj with the residual add and the next norm in one kernel (matmul_add_rmsnorm), q/k/v with
  // rope and the K/V store (matmul_qkv_rope_store); bytes: the weights.
  if (want("layer")) {
    std::vector<float> row_host(static_cast<size_t>(h));
    for (size_t j = 0; j < row_host.size(); ++j) row_host[j] = float(int(j * 7919 % 2001) - 1000) / 500.f;
    auto res = be->alloc(size_t(h) * 4), scratch = be->alloc(size_t(h) * 4);
    be->copy_to_device(res->data(), row_host.data(), row_host.size() * 4);
    auto nw = random_bf16(size_t(h), 40), normed = be->alloc(size_t(h) * 2);
    const Tensor tres(res->data(), DType::kF32, {1, h}), tnw(nw->data(), DType::kBF16, {h}),
        tnormed(normed->data(), DType::kBF16, {1, h}), tsc(scratch->data(), DType::kF32, {1, h});
    struct Proj { const char* name; int64_t k; };
    for (const Proj p : {Proj{"o_proj", hq * d}, Proj{"down", inter}}) {
      std::vector<std::unique_ptr<DeviceBuffer>> ws;
      for (int i = 0; i < 4; ++i) ws.push_back(random_bf16(size_t(h * p.k), 50 + i));
      auto x = random_bf16(size_t(p.k), 45);
      const Tensor tx(x->data(), DType::kBF16, {1, p.k});
      auto w = [&](int i) { return Tensor(ws[size_t(i % 4)]->data(), DType::kBF16, {h, p.k}); };
      for (bool fused : {true, false}) {
        const double sec = time_op([&](int i) {
          if (fused) ops.matmul_add_rmsnorm(tx, w(i), tsc, tres, tnw, 1e-6f, tnormed);
          else ops.Ops::matmul_add_rmsnorm(tx, w(i), tsc, tres, tnw, 1e-6f, tnormed);
        });
        be->copy_to_device(res->data(), row_host.data(), row_host.size() * 4);  // keep the row finite
        char name[64];
        std::snprintf(name, sizeof name, "%s T=1 %s", p.name, fused ? "matmul_add_rmsnorm" : "matmul+add_rmsnorm");
        row(name, sec, 2.0 * double(h * p.k), 0, bw, peak);
      }
    }
    const int64_t n = hq * d + 2 * hk * d, bs = 16, blocks = 4;
    std::vector<std::unique_ptr<DeviceBuffer>> ws;
    for (int i = 0; i < 4; ++i) ws.push_back(random_bf16(size_t(n * h), 70 + i));
    auto kc = be->alloc(size_t(blocks * bs * hk * d) * 2), vc = be->alloc(size_t(blocks * bs * hk * d) * 2);
    auto qkv = be->alloc(size_t(n) * 2);
    std::vector<float> inv(size_t(d / 2));
    for (size_t i = 0; i < inv.size(); ++i) inv[i] = float(std::pow(1e6, -2.0 * double(i) / double(d)));
    const std::vector<int32_t> pos{600}, slots{17};
    auto dinv = upload(inv), dpos = upload(pos), dslots = upload(slots);
    const RopeParams rp{static_cast<const float*>(dinv->data()), int32_t(d)};
    const Tensor tqkv(qkv->data(), DType::kBF16, {1, n}), tkc(kc->data(), DType::kBF16, {blocks, bs, hk, d}),
        tvc(vc->data(), DType::kBF16, {blocks, bs, hk, d});
    auto w = [&](int i) { return Tensor(ws[size_t(i % 4)]->data(), DType::kBF16, {n, h}); };
    const auto* p = static_cast<const int32_t*>(dpos->data());
    const auto* sl = static_cast<const int32_t*>(dslots->data());
    for (bool fused : {true, false}) {
      const double sec = time_op([&](int i) {
        if (fused) ops.matmul_qkv_rope_store(tnormed, w(i), Tensor(), p, rp, tkc, tvc, sl, tqkv);
        else ops.Ops::matmul_qkv_rope_store(tnormed, w(i), Tensor(), p, rp, tkc, tvc, sl, tqkv);
      });
      row(fused ? "qkv+rope_store T=1 (op)" : "qkv+rope_store T=1 (two ops)", sec, 2.0 * double(n * h), 0, bw, peak);
    }
  }

  // Norm and elementwise ops at decode and prefill sizes.
  if (want("elementwise")) {
    for (int64_t t : {1, 256, 2048, 16384}) {
      auto x = random_bf16(size_t(t * inter * 2), 20), res = random_bf16(size_t(t * h), 21), w = random_bf16(size_t(h), 22);
      auto y = be->alloc(size_t(t * inter) * 2);
      const Tensor tx(x->data(), DType::kBF16, {t, h}), tr(res->data(), DType::kBF16, {t, h}),
          tw(w->data(), DType::kBF16, {h}), ty(y->data(), DType::kBF16, {t, h});
      char name[64];
      std::snprintf(name, sizeof name, "add_rmsnorm T=%ld bf16", long(t));
      row(name, time_op([&](int) { ops.add_rmsnorm(tx, tr, tw, 1e-6f, ty); }), 2.0 * double(4 * t * h), 0, bw, peak);
      // The decoder's form on CUDA: fp32 x (the o_proj / down_proj output) and fp32 residual stream
      // (x's buffer read as fp32: the upper halves are the random bf16 values, so every x is finite).
      auto res32 = be->alloc(size_t(t * h) * 4);
      const Tensor tx32(x->data(), DType::kF32, {t, h}), tr32(res32->data(), DType::kF32, {t, h});
      std::snprintf(name, sizeof name, "add_rmsnorm T=%ld f32 (decoder)", long(t));
      row(name, time_op([&](int) { ops.add_rmsnorm(tx32, tr32, tw, 1e-6f, ty); }), double(14 * t * h), 0, bw, peak);
      const Tensor g(x->data(), DType::kBF16, {t, inter}), u(static_cast<uint16_t*>(x->data()) + t * inter,
                                                               DType::kBF16, {t, inter});
      const Tensor o(y->data(), DType::kBF16, {t, inter});
      std::snprintf(name, sizeof name, "silu_mul T=%ld", long(t));
      row(name, time_op([&](int) { ops.silu_mul(g, u, o); }), 2.0 * double(3 * t * inter), 0, bw, peak);
      // gate_up_silu's pass: the halves of one [T, 2I] product (x's buffer) into [T, I].
      std::snprintf(name, sizeof name, "silu_mul halves T=%ld", long(t));
      row(name, time_op([&](int) {
            cuda::launch_silu_mul_halves(static_cast<const cuda::bf16*>(x->data()), static_cast<cuda::bf16*>(y->data()),
                                         t, inter, nullptr);
          }, 20, 7, [] { cudaDeviceSynchronize(); }), 2.0 * double(3 * t * inter), 0, bw, peak);
    }
  }

  // rope + K/V store (rope_store_kv, the decoder's step before attention) with the 7B's heads, at
  // decode and prefill sizes; bytes: q, k, v read, q rotated back, k and v into the cache.
  if (want("rope")) {
    for (int64_t t : {1, 2048}) {
      const int64_t bs = 16, blocks = (t + bs - 1) / bs;
      auto q = random_bf16(size_t(t * hq * d), 60), k = random_bf16(size_t(t * hk * d), 61), v = random_bf16(size_t(t * hk * d), 62);
      auto kc = be->alloc(size_t(blocks * bs * hk * d) * 2), vc = be->alloc(size_t(blocks * bs * hk * d) * 2);
      std::vector<float> inv(size_t(d / 2));
      for (size_t i = 0; i < inv.size(); ++i) inv[i] = float(std::pow(1e6, -2.0 * double(i) / double(d)));
      std::vector<int32_t> pos(static_cast<size_t>(t)), slots(static_cast<size_t>(t));
      for (int64_t i = 0; i < t; ++i) pos[size_t(i)] = int32_t(600 + i), slots[size_t(i)] = int32_t(i);
      auto dinv = upload(inv), dpos = upload(pos), dslots = upload(slots);
      const RopeParams rp{static_cast<const float*>(dinv->data()), int32_t(d)};
      const Tensor tq(q->data(), DType::kBF16, {t, hq * d}), tk(k->data(), DType::kBF16, {t, hk * d}),
          tv(v->data(), DType::kBF16, {t, hk * d}), tkc(kc->data(), DType::kBF16, {blocks, bs, hk, d}),
          tvc(vc->data(), DType::kBF16, {blocks, bs, hk, d});
      char name[64];
      std::snprintf(name, sizeof name, "rope_store_kv T=%ld", long(t));
      row(name,
          time_op([&](int) {
            ops.rope_store_kv(tq, tk, tv, static_cast<const int32_t*>(dpos->data()), rp, tkc, tvc,
                              static_cast<const int32_t*>(dslots->data()));
          }),
          4.0 * double(t * (hq + 2 * hk) * d), 0, bw, peak);
    }
  }

  // Paged attention, old (kSimple) and new (kAuto: the tensor-core decode / prefill kernels) on the
  // same inputs: decode at batch 1/32/256 x context 1k/8k (limit: copy bandwidth over the K/V bytes
  // read) and a 2048-token causal prefill (limit: the GEMM rate over the attention FLOPs).
  if (want("attention")) {
    std::printf("\n");
    int dev = 0, num_sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, dev);
    const int32_t bs = 16;
    // stride: block-table row length (CUDA graphs fix it at max_model_len / block_size); 0 = just enough.
    // scattered: the cache blocks are dealt out in a random order (an engine's tables after many
    // allocations and frees) instead of each sequence's blocks lying one after another.
    // layers > 1: that many caches (zero-filled), one per call in turn, as a forward's layers take
    // theirs (each layer's K/V pages are new to the TLBs and caches; one cache stays warm in them).
    struct AttnCase { int32_t seqs, q_len, ctx, stride = 0; bool scattered = false; int32_t layers = 1; };
    for (const AttnCase ac : {AttnCase{1, 1, 1024}, AttnCase{32, 1, 1024}, AttnCase{256, 1, 1024}, AttnCase{1, 1, 8192},
                              AttnCase{32, 1, 8192}, AttnCase{256, 1, 8192}, AttnCase{1, 2048, 2048},
                              AttnCase{1, 512, 4096}, AttnCase{4, 512, 512}, AttnCase{32, 1, 1024, 8192},
                              AttnCase{1024, 1, 640}, AttnCase{1024, 1, 640, 0, true},  // offline decode (1,000 x 512/256)
                              AttnCase{1024, 1, 640, 0, true, 28},  // the same over 28 layers' caches
                              AttnCase{32, 512, 512}, AttnCase{500, 1, 530}}) {  // an offline prefill step's two parts
      const int32_t used = (ac.ctx + bs - 1) / bs, blocks_per_seq = std::max(used, ac.stride),
                    num_blocks = ac.seqs * used;
      std::vector<int32_t> qsl(size_t(ac.seqs) + 1), lens(size_t(ac.seqs), ac.ctx),
          tables(size_t(ac.seqs) * size_t(blocks_per_seq), -1);
      for (int32_t s = 0; s <= ac.seqs; ++s) qsl[size_t(s)] = s * ac.q_len;
      const std::vector<int32_t> order = block_order(num_blocks, ac.scattered, 12345);
      for (int32_t s = 0; s < ac.seqs; ++s)
        for (int32_t b = 0; b < used; ++b)
          tables[size_t(s) * size_t(blocks_per_seq) + size_t(b)] = order[size_t(s * used + b)];
      const int64_t t = int64_t(ac.seqs) * ac.q_len;
      auto q = random_bf16(size_t(t * hq * d), 30), out = be->alloc(size_t(t * hq * d) * 2);
      auto kc = random_bf16(size_t(num_blocks) * bs * hk * d, 31), vc = random_bf16(size_t(num_blocks) * bs * hk * d, 32);
      std::vector<std::unique_ptr<DeviceBuffer>> layer_kv;  // layers 1 .. layers - 1: K, V
      for (int32_t l = 1; l < ac.layers; ++l)
        for (int kv = 0; kv < 2; ++kv) {
          layer_kv.push_back(be->alloc(size_t(num_blocks) * bs * hk * d * 2));
          cudaMemset(layer_kv.back()->data(), 0, size_t(num_blocks) * bs * hk * d * 2);
        }
      auto layer_k = [&](int i) { return static_cast<const cuda::bf16*>(i % ac.layers ? layer_kv[size_t(2 * (i % ac.layers - 1))]->data() : kc->data()); };
      auto layer_v = [&](int i) { return static_cast<const cuda::bf16*>(i % ac.layers ? layer_kv[size_t(2 * (i % ac.layers - 1) + 1)]->data() : vc->data()); };
      auto dq = upload(qsl), dl = upload(lens), dt = upload(tables);
      const AttentionBatch ab{ac.seqs, static_cast<const int32_t*>(dq->data()), static_cast<const int32_t*>(dl->data()),
                              static_cast<const int32_t*>(dt->data()), blocks_per_seq, bs};
      const Tensor tq(q->data(), DType::kBF16, {t, hq * d}), to(out->data(), DType::kBF16, {t, hq * d});
      const Tensor tk(kc->data(), DType::kBF16, {num_blocks, bs, hk, d}), tv(vc->data(), DType::kBF16, {num_blocks, bs, hk, d});
      // Bytes: each sequence's K/V once plus q and out; FLOPs: causal QK^T and PV (the queries are
      // the last q_len of ctx positions: chunked prefill over a cached prefix when q_len < ctx).
      const double kv_bytes = 2.0 * ac.seqs * ac.ctx * hk * d * 2;
      const double pairs = double(ac.q_len) * (ac.ctx - ac.q_len) + 0.5 * double(ac.q_len) * (ac.q_len + 1);
      const double bytes = kv_bytes + 4.0 * double(t * hq * d), flops = 4.0 * ac.seqs * pairs * hq * d;
      const int inner = ac.layers > 1 ? ac.layers : ac.q_len > 1 ? 3 : 20;
      for (const cuda::AttentionKernel k : {cuda::AttentionKernel::kSimple, cuda::AttentionKernel::kAuto}) {
        if (k == cuda::AttentionKernel::kSimple && (ac.layers > 1 || ac.seqs * ac.q_len > 8192)) continue;  // slow, known
        cuda::PagedAttentionArgs a;
        a.num_tokens = t, a.num_seqs = ac.seqs, a.num_q_heads = int32_t(hq), a.num_kv_heads = int32_t(hk);
        a.head_dim = int32_t(d), a.block_size = bs, a.max_blocks_per_seq = blocks_per_seq;
        a.query_start_loc = ab.query_start_loc, a.seq_lens = ab.seq_lens, a.block_tables = ab.block_tables;
        a.scale = 0.088f;
        cuda::plan_paged_attention(a, num_sms, k);
        auto ws = be->alloc(std::max<size_t>(16, cuda::paged_attention_workspace_floats(a) * 4));
        auto counters = be->alloc(std::max<size_t>(16, cuda::paged_attention_counters(a) * 4));
        cudaMemset(counters->data(), 0, std::max<size_t>(16, cuda::paged_attention_counters(a) * 4));
        cuda::set_paged_attention_workspace(a, static_cast<float*>(ws->data()), static_cast<int32_t*>(counters->data()));
        const double sec = time_op(
            [&](int i) {
              cuda::launch_paged_attention(static_cast<const cuda::bf16*>(q->data()), layer_k(i), layer_v(i), a,
                                           static_cast<cuda::bf16*>(out->data()), nullptr);
            },
            inner, 5, [] { cudaDeviceSynchronize(); });
        static const char* names[] = {"auto", "simple", "tc-decode", "tc-prefill"};
        char name[80];
        std::snprintf(name, sizeof name, "attn %s B=%d q=%d ctx=%d%s%s %s/%d",
                      ac.q_len == 1 ? "decode" : ac.q_len < ac.ctx ? "chunk" : "prefill", ac.seqs,
                      ac.q_len, ac.ctx, ac.stride ? " stride" : ac.scattered ? " scattered" : "",
                      ac.layers > 1 ? (" x" + std::to_string(ac.layers) + " layers").c_str() : "", names[int(a.kernel)],
                      a.num_splits);
        row(name, sec, bytes, flops, bw, peak);
      }
      // The op's own path (kAuto planning + its workspace) on the backend stream, for reference.
      const double s_op = time_op([&](int) { ops.attention(tq, tk, tv, ab, 0.088f, to); }, inner, 5);
      std::printf("  ops.attention %.1f us; K/V read %.1f MB\n", s_op * 1e6, kv_bytes / 1e6);
    }
  }

  // Hot: kernels timed between GEMM bursts, as in a long compute-bound run (the offline benchmark),
  // where the card sits at its power limit and lowers its SM clock (H200: ~1,485 MHz, as in the
  // offline run, against 1,980 idle; session 17, run 3's nvidia-smi samples): each call follows
  // ~1.5 ms of 8192^3 GEMM (after 2 s of it), timed alone with events on the legacy stream; next to
  // the same call timed the same way after an idle pause (cold). Only when named (bench_cuda_ops hot).
  if (std::find(only.begin(), only.end(), "hot") != only.end()) {
    std::printf("\n");
    const int64_t hm = 8192;
    auto ha = random_bf16(size_t(hm * hm), 70), hb = random_bf16(size_t(hm * hm), 71), hc = be->alloc(size_t(hm * hm) * 2);
    const Tensor tha(ha->data(), DType::kBF16, {hm, hm}), thb(hb->data(), DType::kBF16, {hm, hm}),
        thc(hc->data(), DType::kBF16, {hm, hm});
    const auto heat = [&](int n) {
      for (int i = 0; i < n; ++i) ops.matmul(tha, thb, Tensor(), thc);
      be->synchronize();
    };
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    // Median seconds of fn over `calls` calls, each after `burst` GEMMs (0: after an idle 20 ms).
    const auto timed = [&](const std::function<void(int)>& fn, int burst, int calls) {
      std::vector<float> ms;
      for (int i = 0; i < calls; ++i) {
        if (burst) heat(burst);
        else std::this_thread::sleep_for(std::chrono::milliseconds(20));
        cudaEventRecord(e0, nullptr);
        fn(i);
        cudaEventRecord(e1, nullptr);
        cudaEventSynchronize(e1);
        float v = 0;
        cudaEventElapsedTime(&v, e0, e1);
        ms.push_back(v);
      }
      std::sort(ms.begin(), ms.end());
      return double(ms[ms.size() / 2]) / 1e3;
    };
    struct HotCase { const char* name; double bytes, flops; std::function<void(int)> fn; };
    std::vector<HotCase> cases;
    const size_t cb = size_t(1) << 30;
    auto csrc = random_bf16(cb / 2, 72), cdst = be->alloc(cb);
    cases.push_back({"copy 1 GiB", 2.0 * double(cb), 0,
                     [&](int) { cudaMemcpyAsync(cdst->data(), csrc->data(), cb, cudaMemcpyDeviceToDevice, nullptr); }});
    const int64_t st = 16384;  // an offline mixed step's tokens
    auto gu = random_bf16(size_t(st * 2 * inter), 73), act = be->alloc(size_t(st * inter) * 2);
    cases.push_back({"silu_mul halves T=16384", 2.0 * double(3 * st * inter), 0, [&](int) {
                       cuda::launch_silu_mul_halves(static_cast<const cuda::bf16*>(gu->data()),
                                                    static_cast<cuda::bf16*>(act->data()), st, inter, nullptr);
                     }});
    // Attention at the offline run's shapes (scattered cache blocks): its decode step (1,024
    // sequences x 640 keys) and a mixed step's two launches (32 prompts of 512, 500 decodes x 530).
    int hdev = 0, hsms = 0;
    cudaGetDevice(&hdev);
    cudaDeviceGetAttribute(&hsms, cudaDevAttrMultiProcessorCount, hdev);
    std::vector<std::unique_ptr<DeviceBuffer>> keep;
    std::vector<std::unique_ptr<cuda::PagedAttentionArgs>> args;
    const auto attn_case = [&](const char* name, int32_t seqs, int32_t q_len, int32_t ctx) {
      const int32_t bs = 16, used = (ctx + bs - 1) / bs, blocks = seqs * used;
      const int64_t t = int64_t(seqs) * q_len;
      std::vector<int32_t> qsl(size_t(seqs) + 1), lens(size_t(seqs), ctx);
      for (int32_t i = 0; i <= seqs; ++i) qsl[size_t(i)] = i * q_len;
      const std::vector<int32_t> tab = block_order(blocks, true, 777);
      auto& a = *args.emplace_back(std::make_unique<cuda::PagedAttentionArgs>());
      a.num_tokens = t, a.num_seqs = seqs, a.num_q_heads = int32_t(hq), a.num_kv_heads = int32_t(hk);
      a.head_dim = int32_t(d), a.block_size = bs, a.max_blocks_per_seq = used, a.scale = 0.088f;
      const size_t kv = size_t(blocks) * bs * hk * d;
      const auto* q = static_cast<const cuda::bf16*>(keep.emplace_back(random_bf16(size_t(t * hq * d), 74))->data());
      auto* out = static_cast<cuda::bf16*>(keep.emplace_back(be->alloc(size_t(t * hq * d) * 2))->data());
      const auto* kc = static_cast<const cuda::bf16*>(keep.emplace_back(random_bf16(kv, 75))->data());
      const auto* vc = static_cast<const cuda::bf16*>(keep.emplace_back(random_bf16(kv, 76))->data());
      a.query_start_loc = static_cast<const int32_t*>(keep.emplace_back(upload(qsl))->data());
      a.seq_lens = static_cast<const int32_t*>(keep.emplace_back(upload(lens))->data());
      a.block_tables = static_cast<const int32_t*>(keep.emplace_back(upload(tab))->data());
      cuda::plan_paged_attention(a, hsms, cuda::AttentionKernel::kAuto);
      auto* ws = static_cast<float*>(
          keep.emplace_back(be->alloc(std::max<size_t>(16, cuda::paged_attention_workspace_floats(a) * 4)))->data());
      auto* cnt = static_cast<int32_t*>(
          keep.emplace_back(be->alloc(std::max<size_t>(16, cuda::paged_attention_counters(a) * 4)))->data());
      cuda::set_paged_attention_workspace(a, ws, cnt);
      const double bytes = 2.0 * seqs * ctx * hk * d * 2 + 4.0 * double(t * hq * d);
      const double pairs = double(q_len) * (ctx - q_len) + 0.5 * double(q_len) * (q_len + 1);
      cases.push_back({name, bytes, 4.0 * seqs * pairs * hq * d, [&a, q, kc, vc, out](int) { cuda::launch_paged_attention(q, kc, vc, a, out, nullptr); }});
    };
    attn_case("attn decode B=1024 ctx=640 scattered", 1024, 1, 640);
    attn_case("attn prefill B=32 q=512 scattered", 32, 512, 512);
    attn_case("attn decode B=500 ctx=530 scattered", 500, 1, 530);
    for (const HotCase& c : cases) {
      char name[80];
      std::snprintf(name, sizeof name, "%s cold", c.name);
      row(name, timed(c.fn, 0, 15), c.bytes, c.flops, bw, peak);
      heat(1400);  // ~2 s
      std::snprintf(name, sizeof name, "%s hot", c.name);
      row(name, timed(c.fn, 1, 60), c.bytes, c.flops, bw, peak);
    }
    // The offline run's q|k|v projection (16,384 rows, with bias) right after what precedes it there:
    // a memory-bound pass (here ~1 ms of copies), against after a GEMM (steady at the power limit) and
    // after an idle pause. Host-timed around a synchronized call (the backend stream has no events here).
    {
      const int64_t qt = 16384, qn = (hq + 2 * hk) * d;
      auto qx = random_bf16(size_t(qt * h), 80), qw = random_bf16(size_t(qn * h), 81), qb = random_bf16(size_t(qn), 82);
      auto qy = be->alloc(size_t(qt * qn) * 2);
      const Tensor tqx(qx->data(), DType::kBF16, {qt, h}), tqw(qw->data(), DType::kBF16, {qn, h}),
          tqb(qb->data(), DType::kBF16, {qn}), tqy(qy->data(), DType::kBF16, {qt, qn});
      const auto gemm = [&] { ops.matmul(tqx, tqw, tqb, tqy); };
      gemm();  // the plan (and its tuning)
      be->synchronize();
      struct Before { const char* name; std::function<void()> fn; };
      const Before befores[] = {
          {"after a GEMM", [&] { heat(1); }},
          {"after 1 ms of copies", [&] {
             for (int i = 0; i < 2; ++i) cudaMemcpyAsync(cdst->data(), csrc->data(), cb, cudaMemcpyDeviceToDevice, nullptr);
             cudaDeviceSynchronize();
           }},
          {"after 20 ms idle", [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }}};
      for (const Before& before : befores) {
        heat(1400);
        std::vector<double> t;
        for (int i = 0; i < 30; ++i) {
          before.fn();
          const auto t0 = std::chrono::steady_clock::now();
          gemm();
          be->synchronize();
          t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(t.begin(), t.end());
        char name[80];
        std::snprintf(name, sizeof name, "matmul qkv T=16384 +bias %s", before.name);
        row(name, t[t.size() / 2], 0, 2.0 * double(qt * qn * h), bw, peak);
      }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }

  // Device sampling over float32 logits [rows, 151936] (the Qwen vocabulary), results to the host
  // included. Bytes: the logits read once (rows * vocab * 4); the sorted paths do more by design.
  // "sampling_peaked": only the peaked rows (ncu runs).
  if (want("sampling") || want("sampling_peaked")) {
    const int64_t vocab = 151936;
    std::vector<float> host_logits(size_t(1024 * vocab));
    uint64_t s = 99;
    for (auto& v : host_logits) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      v = 8.f * float(int32_t(s >> 40) - (1 << 23)) / float(1 << 23);
    }
    auto logits = upload(host_logits);
    // "peaked": a trained model's shape, 32 tokens per row at 12..20 above the same uniform bulk
    // (the candidate draw's case; on the uniform rows top-k/top-p fall back to the full sort).
    for (int64_t r = 0; r < 1024; ++r)
      for (int k = 0; k < 32; ++k) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        host_logits[size_t(r * vocab) + (s >> 11) % uint64_t(vocab)] = 12.f + 0.25f * float(k);
      }
    auto peaked = upload(host_logits);
    DeviceSampler& sampler = *be->sampler();
    // want_logprob false: a request without logprobs (the offline benchmark's): no log-sum-exp.
    struct SampleCase {
      const char* name;
      double t;
      int32_t top_k;
      double top_p;
      int32_t logprobs;
      bool lp = true;
      bool peaked = false;
    };
    for (const SampleCase sc : {SampleCase{"greedy", 0.0, 0, 1.0, 0}, SampleCase{"greedy no logprob", 0.0, 0, 1.0, 0, false},
                                SampleCase{"greedy+logprobs20", 0.0, 0, 1.0, 20}, SampleCase{"T=0.8 no logprob", 0.8, 0, 1.0, 0, false},
                                SampleCase{"T=0.8", 0.8, 0, 1.0, 0}, SampleCase{"top_k=50", 0.8, 50, 1.0, 0},
                                SampleCase{"top_p=0.9", 0.8, 0, 0.9, 0},
                                SampleCase{"peaked T=0.6 top_p=0.95 no logprob", 0.6, 0, 0.95, 0, false, true},
                                SampleCase{"peaked top_k=50", 0.8, 50, 1.0, 0, true, true}}) {
      if (!want("sampling") && !sc.peaked) continue;
      for (int64_t rows : {1, 32, 256, 1024}) {
        SampleBatch batch;
        for (int64_t r = 0; r < rows; ++r) {
          SampleRow sr;
          sr.logits_row = int32_t(r);
          sr.temperature = sc.t, sr.top_k = sc.top_k, sr.top_p = sc.top_p, sr.num_logprobs = sc.logprobs;
          sr.want_logprob = sc.lp;
          sr.seed = uint64_t(r);
          batch.rows.push_back(sr);
        }
        std::vector<SampleResult> results;
        const Tensor tl((sc.peaked ? peaked : logits)->data(), DType::kF32, {rows, vocab});
        const double sec = time_op([&](int i) {
          batch.rows[0].step = uint64_t(i);
          sampler.sample(tl, batch, results);
        }, rows > 32 && sc.top_p < 1.0 && !sc.peaked ? 3 : 10, 5);
        char name[64];
        std::snprintf(name, sizeof name, "sample %s rows=%ld", sc.name, long(rows));
        row(name, sec, 4.0 * double(rows * vocab), 0, bw, peak);
      }
    }
  }
}

}  // namespace
}  // namespace ds

int main(int argc, char** argv) {
  ds::run(std::vector<std::string_view>(argv + 1, argv + argc));
  return 0;
}
