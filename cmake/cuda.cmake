# The CUDA backend (src/backend/cuda -> ds_backend_cuda) and its GPU tests.
# DSSERVE_CUDA: AUTO (default) builds it whenever a CUDA compiler is found; ON requires one; OFF skips.
# Code: sm_90a machine code (Hopper: wgmma/setmaxnreg available) plus compute_80 PTX so other cards
# JIT-compile it. Only these two keep CI's 2-core compile short.
# Runtime dependencies: cudart is linked statically; cuBLASLt dynamically (CUDA 13.0 ships no static
# cuBLASLt here), found at run time through the RPATH to the toolkit's lib64, which the GPU machine's
# image has at the same path (/usr/local/cuda, cuBLASLt 13.1).
set(DSSERVE_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO, ON or OFF")
set_property(CACHE DSSERVE_CUDA PROPERTY STRINGS AUTO ON OFF)

set(DSSERVE_CUDA_ENABLED OFF)
if(DSSERVE_CUDA STREQUAL "OFF" OR DSSERVE_FUZZ OR DSSERVE_SANITIZE)
  # Sanitizer and fuzzer builds pass -fsanitize flags that nvcc does not take.
  message(STATUS "dsserve: CUDA backend off")
  return()
endif()

include(CheckLanguage)
if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc AND NOT DEFINED ENV{CUDACXX})
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(DSSERVE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DSSERVE_CUDA=ON but no CUDA compiler was found")
  endif()
  message(STATUS "dsserve: no CUDA compiler found, CUDA backend off")
  return()
endif()

# Architectures are given as explicit -gencode flags below.
set(CMAKE_CUDA_ARCHITECTURES OFF)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
# CMake 3.25 predates nvcc's C++20 support: teach it the flag (nvcc 12+ accepts -std=c++20).
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(DSSERVE_CUDA_ENABLED ON)
message(STATUS "dsserve: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION})")

if(TARGET CUDA::cublasLt_static)
  set(DS_CUBLASLT CUDA::cublasLt_static)
else()
  set(DS_CUBLASLT CUDA::cublasLt)
endif()

file(GLOB DS_CUDA_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cpp)
add_library(ds_backend_cuda STATIC ${DS_CUDA_SOURCES})
# The directory-wide -Wall/-Wextra/-Werror are host-compiler flags nvcc does not accept directly:
# reset them on this target and give each language its own spelling.
set_property(TARGET ds_backend_cuda PROPERTY COMPILE_OPTIONS "")
target_compile_options(ds_backend_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra -Werror=all-warnings --expt-relaxed-constexpr
    -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=compute_80 -lineinfo>)
target_include_directories(ds_backend_cuda PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(ds_backend_cuda PUBLIC ds_core PRIVATE CUDA::cudart_static ${DS_CUBLASLT})
set_target_properties(ds_backend_cuda PROPERTIES CUDA_SEPARABLE_COMPILATION OFF
  POSITION_INDEPENDENT_CODE ON)

# Per-kernel benchmark (bench/cuda): each op's time against the copy bandwidth and GEMM rate.
add_executable(bench_cuda_ops ${CMAKE_SOURCE_DIR}/bench/cuda/bench_cuda_ops.cpp)
target_link_libraries(bench_cuda_ops PRIVATE ds_backend_cuda CUDA::cudart_static)
set_target_properties(bench_cuda_ops PROPERTIES
  BUILD_RPATH "$ORIGIN/lib;${CUDAToolkit_LIBRARY_DIR};/usr/local/cuda/lib64"
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)

# Whole-model decode benchmark (bench/cuda): the engine on the CUDA backend, ms/token against the
# copy bandwidth measured in the same run.
add_executable(bench_cuda_decode ${CMAKE_SOURCE_DIR}/bench/cuda/bench_cuda_decode.cpp)
target_link_libraries(bench_cuda_decode PRIVATE ds_backend_cuda ds_engine)
set_target_properties(bench_cuda_decode PROPERTIES
  BUILD_RPATH "$ORIGIN/lib;${CUDAToolkit_LIBRARY_DIR};/usr/local/cuda/lib64"
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)

# Sustained (power-capped) GEMM rates of cuBLASLt's candidate algorithms (bench/cuda).
add_executable(bench_gemm_sustained ${CMAKE_SOURCE_DIR}/bench/cuda/bench_gemm_sustained.cu)
target_link_libraries(bench_gemm_sustained PRIVATE CUDA::cudart_static ${DS_CUBLASLT})
set_property(TARGET bench_gemm_sustained PROPERTY COMPILE_OPTIONS "")
target_compile_options(bench_gemm_sustained PRIVATE -Xcompiler=-Wall,-Wextra -Werror=all-warnings
  -gencode=arch=compute_90a,code=sm_90a)
set_target_properties(bench_gemm_sustained PROPERTIES
  BUILD_RPATH "$ORIGIN/lib;${CUDAToolkit_LIBRARY_DIR};/usr/local/cuda/lib64"
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
