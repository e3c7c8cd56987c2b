#pragma once
// DS_OP_PROFILE=1: the GPU time of every op call, from a CUDA event pair around it on the backend's
// stream, summed by op and shape and printed to stderr when the backend goes. The GPU machine has
// no nsys; this is how an offline run or a decode step shows which ops take its time and at what
// rate (matmuls: TFLOP/s from 2 T N K).
// Only work enqueued outside graph capture is timed (a replayed decode graph is one launch: run with
// --enforce-eager to see decode steps op by op). An event between two kernels ends programmatic
// dependent launch's overlap there, so the times are those of the ops run one after another.
// DS_OP_SKIP=OP[,OP...] (timing experiments only: the outputs are wrong): the named ops are not run,
// in graphs too, so a decode step's time without them gives their cost in place (PDL overlap and
// all). OP is an Ops method name ("attention", "matmul_add") or a method name with the weight's
// shape ("matmul_add[3584x3584]": only that projection). The sampler is never skipped.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/ops.h"
#include "backend/sampling.h"

namespace ds::cuda {

class OpProfile {
 public:
  // skip: DS_OP_SKIP's entries (see above)
  OpProfile(cudaStream_t stream, std::vector<std::string> skip);
  ~OpProfile();  // prints the table (stderr)
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // Times the work enqueued on the stream while it lives (nothing while the stream is capturing).
  class Span {
   public:
    Span() = default;
    Span(OpProfile* p, int key, cudaEvent_t start) : p_(p), key_(key), start_(start) {}
    Span(Span&& o) noexcept : p_(o.p_), key_(o.key_), start_(o.start_) { o.p_ = nullptr; }
    Span& operator=(Span&&) = delete;
    ~Span();

   private:
    OpProfile* p_ = nullptr;
    int key_ = 0;
    cudaEvent_t start_ = nullptr;
  };
  // `op` with the row count's bucket (T=1, T=2, T<=8, ... T<=32768, T>32768) and `shape` in the key;
  // flops > 0 adds a rate column.
  Span span(const char* op, int64_t rows, const std::string& shape = {}, double flops = 0);
  // Whether DS_OP_SKIP names `op` (or `op` with this weight shape).
  bool skips(const char* op, const std::string& shape = {}) const;

 private:
  struct Timed {
    cudaEvent_t start, stop;
    int key;
  };
  struct Total {
    std::string key;
    int64_t calls = 0;
    double ms = 0, flops = 0;
  };
  cudaEvent_t event();
  void end(int key, cudaEvent_t start);
  void flush();  // waits for the newest event, adds up the pending pairs, recycles their events

  cudaStream_t stream_;
  std::vector<std::string> skip_;
  cudaEvent_t origin_ = nullptr;  // the first span's start
  double span_ms_ = 0;            // origin_ to the last flushed stop: the GPU's wall time over the timed work
  std::vector<cudaEvent_t> free_;
  std::vector<Timed> pending_;
  std::unordered_map<std::string, int> index_;
  std::vector<Total> totals_;
};

// Ops / DeviceSampler that time every call of `inner` with `profile` (neither owned).
std::unique_ptr<Ops> make_profiled_ops(Ops& inner, OpProfile& profile);
std::unique_ptr<DeviceSampler> make_profiled_sampler(DeviceSampler& inner, OpProfile& profile);

}  // namespace ds::cuda
