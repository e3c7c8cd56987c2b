#include "backend/cuda/op_profile.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace ds::cuda {
namespace {

constexpr size_t kFlushAt = 1024;  // pending event pairs before the host waits and adds them up

std::string rows_bucket(int64_t t) {
  if (t <= 2) return "T=" + std::to_string(t);
  int64_t b = 8;
  while (b < t && b < 32768) b *= 4;
  return (t > b ? "T>" : "T<=") + std::to_string(b);
}

std::string weight_shape(const Tensor& w) { return "[" + std::to_string(w.dim(0)) + "x" + std::to_string(w.dim(1)) + "]"; }

double matmul_flops(int64_t rows, const Tensor& w) { return 2.0 * double(rows) * double(w.dim(0)) * double(w.dim(1)); }

class ProfiledOps final : public Ops {
 public:
  ProfiledOps(Ops& inner, OpProfile& p) : in_(inner), p_(p) {}

  void embedding(const Tensor& table, const int32_t* ids, Tensor out) override {
    if (p_.skips("embedding")) return;
    auto s = p_.span("embedding", out.dim(0));
    in_.embedding(table, ids, out);
  }
  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor out) override {
    if (p_.skips("rmsnorm")) return;
    auto s = p_.span("rmsnorm", x.dim(0));
    in_.rmsnorm(x, w, eps, out);
  }
  void add_rmsnorm(const Tensor& x, Tensor residual, const Tensor& w, float eps, Tensor out) override {
    if (p_.skips("add_rmsnorm")) return;
    auto s = p_.span("add_rmsnorm", x.dim(0));
    in_.add_rmsnorm(x, residual, w, eps, out);
  }
  void matmul(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor out) override {
    if (p_.skips("matmul", weight_shape(w))) return;
    auto s = p_.span("matmul", x.dim(0), weight_shape(w), matmul_flops(x.dim(0), w));
    in_.matmul(x, w, bias, out);
  }
  void rope(Tensor q, Tensor k, const int32_t* positions, const RopeParams& rope) override {
    if (p_.skips("rope")) return;
    auto s = p_.span("rope", q.dim(0));
    in_.rope(q, k, positions, rope);
  }
  void store_kv(const Tensor& k, const Tensor& v, Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) override {
    if (p_.skips("store_kv")) return;
    auto s = p_.span("store_kv", k.dim(0));
    in_.store_kv(k, v, k_cache, v_cache, slot_mapping);
  }
  void rope_store_kv(Tensor q, Tensor k, const Tensor& v, const int32_t* positions, const RopeParams& rope,
                     Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping) override {
    if (p_.skips("rope_store_kv")) return;
    auto s = p_.span("rope_store_kv", q.dim(0));
    in_.rope_store_kv(q, k, v, positions, rope, k_cache, v_cache, slot_mapping);
  }
  void qkv_rope_store(const Tensor& qkv, Tensor q, const int32_t* positions, const RopeParams& rope, Tensor k_cache,
                      Tensor v_cache, const int32_t* slot_mapping) override {
    if (p_.skips("qkv_rope_store")) return;
    auto s = p_.span("qkv_rope_store", qkv.dim(0));
    in_.qkv_rope_store(qkv, q, positions, rope, k_cache, v_cache, slot_mapping);
  }
  // Decode batches (one query row per sequence) apart from prefill and mixed ones.
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                 float scale, Tensor out) override {
    if (p_.skips("attention")) return;
    auto s = p_.span(q.dim(0) == batch.num_seqs ? "attention decode" : "attention prefill/mixed", q.dim(0));
    in_.attention(q, k_cache, v_cache, batch, scale, out);
  }
  void silu_mul(const Tensor& gate, const Tensor& up, Tensor out) override {
    if (p_.skips("silu_mul")) return;
    auto s = p_.span("silu_mul", gate.dim(0));
    in_.silu_mul(gate, up, out);
  }
  void gate_up_silu(const Tensor& x, const Tensor& w_gate_up, Tensor gate_up, Tensor out) override {
    if (p_.skips("gate_up_silu", weight_shape(w_gate_up))) return;
    auto s = p_.span("gate_up_silu", x.dim(0), weight_shape(w_gate_up), matmul_flops(x.dim(0), w_gate_up));
    in_.gate_up_silu(x, w_gate_up, gate_up, out);
  }
  void matmul_add(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual) override {
    if (p_.skips("matmul_add", weight_shape(w))) return;
    auto s = p_.span("matmul_add", x.dim(0), weight_shape(w), matmul_flops(x.dim(0), w));
    in_.matmul_add(x, w, scratch, residual);
  }
  void matmul_add_rmsnorm(const Tensor& x, const Tensor& w, Tensor scratch, Tensor residual, const Tensor& norm_w,
                          float eps, Tensor normed) override {
    if (p_.skips("matmul_add_rmsnorm", weight_shape(w))) return;
    auto s = p_.span("matmul_add_rmsnorm", x.dim(0), weight_shape(w), matmul_flops(x.dim(0), w));
    in_.matmul_add_rmsnorm(x, w, scratch, residual, norm_w, eps, normed);
  }
  void matmul_qkv_rope_store(const Tensor& x, const Tensor& w_qkv, const Tensor& bias, const int32_t* positions,
                             const RopeParams& rope, Tensor k_cache, Tensor v_cache, const int32_t* slot_mapping,
                             Tensor qkv) override {
    if (p_.skips("matmul_qkv_rope_store", weight_shape(w_qkv))) return;
    auto s = p_.span("matmul_qkv_rope_store", x.dim(0), weight_shape(w_qkv), matmul_flops(x.dim(0), w_qkv));
    in_.matmul_qkv_rope_store(x, w_qkv, bias, positions, rope, k_cache, v_cache, slot_mapping, qkv);
  }
  void gather_rows(const Tensor& x, const int32_t* rows, Tensor out) override {
    if (p_.skips("gather_rows")) return;
    auto s = p_.span("gather_rows", out.dim(0));
    in_.gather_rows(x, rows, out);
  }

 private:
  Ops& in_;
  OpProfile& p_;
};

class ProfiledSampler final : public DeviceSampler {
 public:
  ProfiledSampler(DeviceSampler& inner, OpProfile& p) : in_(inner), p_(p) {}
  void sample(const Tensor& logits, const SampleBatch& batch, std::vector<SampleResult>& out) override {
    auto s = p_.span("sample", int64_t(batch.rows.size()));
    in_.sample(logits, batch, out);
  }
  void reserve(int32_t max_rows, int64_t vocab) override { in_.reserve(max_rows, vocab); }

 private:
  DeviceSampler& in_;
  OpProfile& p_;
};

}  // namespace

OpProfile::OpProfile(cudaStream_t stream, std::vector<std::string> skip) : stream_(stream), skip_(std::move(skip)) {}

bool OpProfile::skips(const char* op, const std::string& shape) const {
  for (const std::string& s : skip_)
    if (s == op || (!shape.empty() && s == std::string(op) + shape)) return true;
  return false;
}

OpProfile::~OpProfile() {
  flush();
  std::vector<Total> rows = totals_;
  std::sort(rows.begin(), rows.end(), [](const Total& a, const Total& b) { return a.ms > b.ms; });
  double ms = 0;
  int64_t calls = 0;
  for (const Total& t : rows) ms += t.ms, calls += t.calls;
  std::fprintf(stderr, "op profile (DS_OP_PROFILE): %lld calls, %.3f ms in ops over %.3f ms of GPU time from the first (%.1f%%)\n",
               (long long)calls, ms, span_ms_, span_ms_ > 0 ? 100.0 * ms / span_ms_ : 0.0);
  for (const Total& t : rows) {
    std::fprintf(stderr, "  %-58s %8lld calls %11.3f ms %5.1f%% %10.1f us/call", t.key.c_str(), (long long)t.calls, t.ms,
                 ms > 0 ? 100.0 * t.ms / ms : 0.0, 1e3 * t.ms / double(std::max<int64_t>(t.calls, 1)));
    if (t.flops > 0) std::fprintf(stderr, " %8.1f TFLOP/s", t.flops / (t.ms * 1e-3) / 1e12);
    std::fprintf(stderr, "\n");
  }
  for (cudaEvent_t e : free_) cudaEventDestroy(e);
  if (origin_) cudaEventDestroy(origin_);
}

cudaEvent_t OpProfile::event() {
  if (!free_.empty()) {
    cudaEvent_t e = free_.back();
    free_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreate(&e));
  return e;
}

OpProfile::Span OpProfile::span(const char* op, int64_t rows, const std::string& shape, double flops) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream_, &st));
  if (st != cudaStreamCaptureStatusNone) return Span();
  std::string key = std::string(op) + " " + rows_bucket(rows);
  if (!shape.empty()) key += " " + shape;
  auto [it, added] = index_.try_emplace(key, int(totals_.size()));
  if (added) totals_.push_back(Total{key});
  totals_[size_t(it->second)].flops += flops;
  if (!origin_) {
    origin_ = event();
    CUDA_CHECK(cudaEventRecord(origin_, stream_));
  }
  cudaEvent_t start = event();
  CUDA_CHECK(cudaEventRecord(start, stream_));
  return Span(this, it->second, start);
}

OpProfile::Span::~Span() {
  if (p_) p_->end(key_, start_);
}

void OpProfile::end(int key, cudaEvent_t start) {
  cudaEvent_t stop = event();
  CUDA_CHECK(cudaEventRecord(stop, stream_));
  pending_.push_back({start, stop, key});
  if (pending_.size() >= kFlushAt) flush();
}

void OpProfile::flush() {
  if (pending_.empty()) return;
  CUDA_CHECK(cudaEventSynchronize(pending_.back().stop));
  for (const Timed& t : pending_) {
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t.start, t.stop));
    Total& total = totals_[size_t(t.key)];
    total.ms += ms;
    total.calls++;
  }
  float span = 0;
  CUDA_CHECK(cudaEventElapsedTime(&span, origin_, pending_.back().stop));
  span_ms_ = span;
  for (const Timed& t : pending_) free_.push_back(t.start), free_.push_back(t.stop);
  pending_.clear();
}

std::unique_ptr<Ops> make_profiled_ops(Ops& inner, OpProfile& profile) {
  return std::make_unique<ProfiledOps>(inner, profile);
}

std::unique_ptr<DeviceSampler> make_profiled_sampler(DeviceSampler& inner, OpProfile& profile) {
  return std::make_unique<ProfiledSampler>(inner, profile);
}

}  // namespace ds::cuda
