// Checks on CUDA and cuBLAS return codes, for code inside src/backend/cuda
// only. Host code only (includes fmt; .cu files use launch_check.h).
// FS_CUDA_CHECK aborts with file:line, the call and CUDA's message (internal
// invariants of the backend, whose interface has no error channel); CudaStatus
// turns a code into a Status for the helpers in device_memory.h.
#pragma once

#include <cublas_v2.h>         // cublasStatus_t
#include <cuda_runtime_api.h>  // cudaError_t, cudaGetErrorString

#include <string_view>

#include "core/check.h"
#include "core/status.h"

#define FS_CUDA_CHECK(call)                                                                   \
  do {                                                                                        \
    const cudaError_t fs_cuda_err_ = (call);                                                  \
    FS_CHECK(fs_cuda_err_ == cudaSuccess, "{}: {}", #call, cudaGetErrorString(fs_cuda_err_)); \
  } while (0)

#define FS_CUBLAS_CHECK(call)                                                        \
  do {                                                                               \
    const cublasStatus_t fs_cublas_err_ = (call);                                    \
    FS_CHECK(fs_cublas_err_ == CUBLAS_STATUS_SUCCESS, "{}: cuBLAS status {}", #call, \
             static_cast<int>(fs_cublas_err_));                                      \
  } while (0)

namespace flashstream::cuda {

// Ok, or an error "what: CUDA's message".
inline Status CudaStatus(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::Ok();
  return Errorf("{}: {}", what, cudaGetErrorString(err));
}

}  // namespace flashstream::cuda
