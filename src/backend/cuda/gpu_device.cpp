// The CUDA build's GPU entry points (backend/gpu.h).
#include <cuda_runtime_api.h>  // cudaMemGetInfo, events

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_memory.h"
#include "backend/gpu.h"

namespace flashstream {
namespace {

Status CheckDevice(int device) {
  const int n = cuda::DeviceCount();
  if (n == 0) return Errorf("--device cuda: no CUDA device is visible (driver missing or no GPU)");
  if (device < 0 || device >= n) return Errorf("--device cuda:{}: there are {} CUDA devices (0..{})", device, n, n - 1);
  return cuda::SetDevice(device);
}

}  // namespace

Result<GpuInfo> QueryCudaDevice(int device) {
  FS_RETURN_IF_ERROR(CheckDevice(device));
  GpuInfo info;
  FS_ASSIGN_OR_RETURN(info.description, cuda::DeviceDescription(device));
  size_t free_bytes = 0, total = 0;
  FS_RETURN_IF_ERROR(cuda::CudaStatus(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo"));
  info.free_bytes = free_bytes;
  info.total_bytes = total;
  return info;
}

Result<std::unique_ptr<Backend>> OpenCudaBackend(int device, bool bf16_activations) {
  FS_RETURN_IF_ERROR(CheckDevice(device));
  CudaBackendOptions options;
  options.bf16_activations = bf16_activations;
  const char* graphs = std::getenv("FS_CUDA_GRAPHS");  // "0": no recorded decode steps (comparisons)
  options.step_graphs = graphs == nullptr || std::string_view(graphs) != "0";
  return MakeCudaBackend(device, options);
}

Result<double> ProbeHostToDeviceGBps(int device, uint64_t bytes) {
  FS_RETURN_IF_ERROR(CheckDevice(device));
  FS_ASSIGN_OR_RETURN(cuda::PinnedBuffer host, cuda::PinnedBuffer::Allocate(bytes));
  FS_ASSIGN_OR_RETURN(cuda::DeviceBuffer dev, cuda::DeviceBuffer::Allocate(bytes));
  FS_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create(device));
  FS_ASSIGN_OR_RETURN(cuda::EventTimer timer, cuda::EventTimer::Create());
  std::fill_n(host.data(), bytes, std::byte{0x5a});  // touched, so no page is faulted in during a copy
  double best_ms = 0;
  for (int i = 0; i < 4; ++i) {  // the first copy warms the path up
    FS_RETURN_IF_ERROR(timer.Start(stream));
    FS_RETURN_IF_ERROR(cuda::CopyToDevice(dev.data(), host.data(), bytes, &stream));
    FS_RETURN_IF_ERROR(timer.Stop(stream));
    FS_ASSIGN_OR_RETURN(double ms, timer.ElapsedMs());
    if (i > 0 && (best_ms == 0 || ms < best_ms)) best_ms = ms;
  }
  return best_ms > 0 ? static_cast<double>(bytes) / (best_ms * 1e6) : 0.0;
}

}  // namespace flashstream
