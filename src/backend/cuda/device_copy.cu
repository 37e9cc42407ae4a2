// LaunchCopy (kernels.h), behind CopyWithKernel (device_memory.h): a grid-stride copy by the SMs rather than the copy
// engines, 16 bytes per thread and step; the bandwidth ceiling a kernel can reach.
#include <cuda_runtime.h>  // kernel launch

#include <algorithm>
#include <cstdint>

#include "backend/cuda/kernels.h"

namespace flashstream::cuda {
namespace {

__global__ void CopyKernel(uint4* __restrict__ dst, const uint4* __restrict__ src, size_t n16, uint8_t* dst_tail,
                           const uint8_t* src_tail, size_t tail) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n16; i += stride) dst[i] = src[i];
  if (blockIdx.x == 0 && threadIdx.x < tail) dst_tail[threadIdx.x] = src_tail[threadIdx.x];
}

}  // namespace

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
