// Error checks for the .cu files, kept free of fmt so nvcc compiles no
// formatting library: the failure paths live in cuda_check.cpp. Both abort with
// file:line (internal invariants).
#pragma once

#include <cuda_runtime_api.h>  // cudaError_t, cudaGetLastError

#include "core/dtype.h"

namespace flashstream::cuda {
void CheckLaunchResult(cudaError_t err, const char* file, int line);
[[noreturn]] void FailUnsupportedDType(const char* what, DType dtype, const char* file, int line);
}  // namespace flashstream::cuda

// Launch errors surface at the next runtime call; check right after each
// launch.
#define FS_CUDA_CHECK_LAUNCH() ::flashstream::cuda::CheckLaunchResult(cudaGetLastError(), __FILE__, __LINE__)
#define FS_CUDA_UNSUPPORTED(what, dtype) ::flashstream::cuda::FailUnsupportedDType(what, dtype, __FILE__, __LINE__)
