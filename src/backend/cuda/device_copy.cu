// LaunchCopy (kernels.h), behind CopyWithKernel (device_memory.h): a grid-stride copy by the SMs rather than the copy
// engines, 16 bytes per thread and step; the bandwidth ceiling a kernel can reach. LaunchShiftedCopy: the same copy
// to a destination moved by a position read from device memory (recorded KV writes).
#include <cuda_runtime.h>  // kernel launch

#include <algorithm>
#include <cstdint>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"

namespace flashstream::cuda {
namespace {

__global__ void CopyKernel(uint4* __restrict__ dst, const uint4* __restrict__ src, size_t n16, uint8_t* dst_tail,
                           const uint8_t* src_tail, size_t tail) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n16; i += stride) dst[i] = src[i];
  if (blockIdx.x == 0 && threadIdx.x < tail) dst_tail[threadIdx.x] = src_tail[threadIdx.x];
}

// dst + (pos[0] - pos0) * bytes receives src[bytes]; 16 bytes per step when `wide` (all 16-byte aligned).
__global__ void ShiftedCopyKernel(uint8_t* dst, const uint8_t* __restrict__ src, size_t bytes,
                                  const int32_t* __restrict__ pos, int32_t pos0, bool wide) {
  uint8_t* d = dst + static_cast<int64_t>(pos[0] - pos0) * static_cast<int64_t>(bytes);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (wide) {
    for (size_t i = first; i < bytes / 16; i += stride) {
      reinterpret_cast<uint4*>(d)[i] = reinterpret_cast<const uint4*>(src)[i];
    }
    return;
  }
  for (size_t i = first; i < bytes; i += stride) d[i] = src[i];
}

}  // namespace

void LaunchShiftedCopy(void* dst, const void* src, size_t bytes, const int32_t* pos, int32_t pos0,
                       cudaStream_t stream) {
  if (bytes == 0) return;
  const bool wide = ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes) % 16) == 0;
  const size_t items = wide ? bytes / 16 : bytes;
  const unsigned blocks = static_cast<unsigned>(std::min<size_t>(1024, (items + 255) / 256));
  ShiftedCopyKernel<<<blocks, 256, 0, stream>>>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), bytes,
                                                pos, pos0, wide);
  FS_CUDA_CHECK_LAUNCH();
}

cudaError_t LaunchCopy(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  const size_t n16 = bytes / 16, tail = bytes % 16;
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  const size_t blocks = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(sms) * 8, (n16 + 255) / 256));
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  CopyKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      reinterpret_cast<uint4*>(d), reinterpret_cast<const uint4*>(s), n16, d + n16 * 16, s + n16 * 16, tail);
  return cudaGetLastError();
}

}  // namespace flashstream::cuda
