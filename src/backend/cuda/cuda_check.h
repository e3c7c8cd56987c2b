#pragma once
// CUDA_CHECK / CUBLAS_CHECK: a failed CUDA or cuBLASLt call is fatal and names the call, the file:line
// and the library's error string. CUDA_CHECK_LAUNCH checks the last launch (configuration errors).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include "common/check.h"

#define CUDA_CHECK(call)                                                                  \
  do {                                                                                    \
    const cudaError_t ds_cuda_err_ = (call);                                              \
    DS_CHECK(ds_cuda_err_ == cudaSuccess)                                                 \
        << #call << " -> " << cudaGetErrorName(ds_cuda_err_) << ": " << cudaGetErrorString(ds_cuda_err_); \
  } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(call)                                                                          \
  do {                                                                                              \
    const cublasStatus_t ds_cublas_st_ = (call);                                                    \
    DS_CHECK(ds_cublas_st_ == CUBLAS_STATUS_SUCCESS)                                                \
        << #call << " -> " << cublasLtGetStatusName(ds_cublas_st_) << ": " << cublasLtGetStatusString(ds_cublas_st_); \
  } while (0)
