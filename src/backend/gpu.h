// The GPU as the engine sees it, CUDA-free: which device, how much memory, its backend and its
// host -> device bandwidth. Implemented by src/backend/cuda/gpu_device.cpp in a CUDA build and
// by src/backend/no_cuda.cpp otherwise (every call then fails with "built without CUDA").
// Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"

namespace flashstream {

struct GpuInfo {
  std::string description;  // "NVIDIA H100 80GB HBM3, 132 SMs, cc 9.0"
  uint64_t free_bytes = 0;  // device memory free now
  uint64_t total_bytes = 0;
};

// Errors when the build has no CUDA, there is no such device or the driver fails.
Result<GpuInfo> QueryCudaDevice(int device);
// The CUDA backend (its own stream) on `device`; bf16_activations: batched matmuls through
// bf16 tensor-core GEMMs (CudaBackendOptions). Decode steps are recorded as CUDA graphs unless
// the environment has FS_CUDA_GRAPHS=0 (for comparisons).
Result<std::unique_ptr<Backend>> OpenCudaBackend(int device, bool bf16_activations);
// Pinned host -> device copy bandwidth in GB/s (1e9 bytes/s): the best of a few copies of
// `bytes` bytes.
Result<double> ProbeHostToDeviceGBps(int device, uint64_t bytes);

}  // namespace flashstream
