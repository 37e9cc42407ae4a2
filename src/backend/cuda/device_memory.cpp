// The CUDA-free helpers of device_memory.h, implemented on the CUDA runtime.
#include "backend/cuda/device_memory.h"

#include <cuda_runtime_api.h>  // cudaMalloc, cudaMemcpyAsync, streams, graphs, events

#include <utility>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"  // LaunchCopy

namespace flashstream::cuda {
namespace {

cudaStream_t Raw(const Stream* s) { return s == nullptr ? nullptr : static_cast<cudaStream_t>(s->handle()); }

Status Copy(void* dst, const void* src, size_t bytes, const Stream* stream, cudaMemcpyKind kind, const char* what) {
  if (bytes == 0) return Status::Ok();
  if (stream == nullptr) {
    // cudaMemcpy may return before a copy from pageable memory or between device buffers
    // has landed; the legacy stream's sync makes it complete for every stream.
    FS_RETURN_IF_ERROR(CudaStatus(cudaMemcpy(dst, src, bytes, kind), fmt::format("{} of {} bytes", what, bytes)));
    return CudaStatus(cudaStreamSynchronize(nullptr), fmt::format("{} of {} bytes", what, bytes));
  }
  return CudaStatus(cudaMemcpyAsync(dst, src, bytes, kind, Raw(stream)), fmt::format("{} of {} bytes", what, bytes));
}

}  // namespace

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

Result<std::string> DeviceDescription(int device) {
  cudaDeviceProp p{};
  FS_RETURN_IF_ERROR(
      CudaStatus(cudaGetDeviceProperties(&p, device), fmt::format("cudaGetDeviceProperties({})", device)));
  return fmt::format("{}, {} SMs, cc {}.{}", p.name, p.multiProcessorCount, p.major, p.minor);
}

Status SetDevice(int device) { return CudaStatus(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device)); }

Status DeviceSynchronize() { return CudaStatus(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

Result<Stream> Stream::Create(int device) {
  FS_RETURN_IF_ERROR(SetDevice(device));
  cudaStream_t s = nullptr;
  FS_RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"));
  Stream out;
  out.handle_ = s;
  out.device_ = device;
  return out;
}

Stream::Stream(Stream&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)), device_(o.device_) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  std::swap(handle_, o.handle_);
  std::swap(device_, o.device_);
  return *this;
}

Stream::~Stream() {
  if (handle_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
}

Status Stream::Synchronize() const {
  return CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)), "cudaStreamSynchronize");
}

Result<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  FS_RETURN_IF_ERROR(CudaStatus(cudaMalloc(&p, bytes), fmt::format("cudaMalloc of {} bytes", bytes)));
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = bytes;
  return b;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

Result<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  FS_RETURN_IF_ERROR(CudaStatus(cudaMallocHost(&p, bytes), fmt::format("cudaMallocHost of {} bytes", bytes)));
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = bytes;
  return b;
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

Status CopyToDevice(void* dst, const void* src, size_t bytes, const Stream* stream) {
  return Copy(dst, src, bytes, stream, cudaMemcpyHostToDevice, "host->device copy");
}

Status CopyToHost(void* dst, const void* src, size_t bytes, const Stream* stream) {
  return Copy(dst, src, bytes, stream, cudaMemcpyDeviceToHost, "device->host copy");
}

Status CopyOnDevice(void* dst, const void* src, size_t bytes, const Stream* stream) {
  return Copy(dst, src, bytes, stream, cudaMemcpyDeviceToDevice, "device->device copy");
}

Status CopyWithKernel(void* dst, const void* src, size_t bytes, const Stream& stream) {
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 || reinterpret_cast<uintptr_t>(src) % 16 != 0) {
    return Status::Error("CopyWithKernel: buffers must be 16-byte aligned");
  }
  if (bytes == 0) return Status::Ok();
  return CudaStatus(LaunchCopy(dst, src, bytes, Raw(&stream)), fmt::format("kernel copy of {} bytes", bytes));
}

Graph::Graph(Graph&& o) noexcept : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}

Graph& Graph::operator=(Graph&& o) noexcept {
  std::swap(graph_, o.graph_);
  std::swap(exec_, o.exec_);
  return *this;
}

Graph::~Graph() {
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}

Status Graph::BeginCapture(const Stream& stream) {
  return CudaStatus(cudaStreamBeginCapture(Raw(&stream), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

Status Graph::EndCapture(const Stream& stream) {
  cudaGraph_t g = nullptr;
  FS_RETURN_IF_ERROR(CudaStatus(cudaStreamEndCapture(Raw(&stream), &g), "cudaStreamEndCapture"));
  cudaGraphExec_t e = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&e, g, 0);
  if (err != cudaSuccess) {
    cudaGraphDestroy(g);
    return CudaStatus(err, "cudaGraphInstantiate");
  }
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  graph_ = g;
  exec_ = e;
  return Status::Ok();
}

Status Graph::Launch(const Stream& stream) const {
  if (exec_ == nullptr) return Status::Error("Graph::Launch before a successful EndCapture");
  return CudaStatus(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), Raw(&stream)), "cudaGraphLaunch");
}

Result<EventTimer> EventTimer::Create() {
  EventTimer t;
  cudaEvent_t a = nullptr, b = nullptr;
  FS_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&a), "cudaEventCreate"));
  t.start_ = a;
  FS_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&b), "cudaEventCreate"));
  t.stop_ = b;
  return t;
}

EventTimer::EventTimer(EventTimer&& o) noexcept
    : start_(std::exchange(o.start_, nullptr)), stop_(std::exchange(o.stop_, nullptr)) {}

EventTimer& EventTimer::operator=(EventTimer&& o) noexcept {
  std::swap(start_, o.start_);
  std::swap(stop_, o.stop_);
  return *this;
}

EventTimer::~EventTimer() {
  if (start_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  if (stop_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

Status EventTimer::Start(const Stream& stream) {
  return CudaStatus(cudaEventRecord(static_cast<cudaEvent_t>(start_), Raw(&stream)), "cudaEventRecord");
}

Status EventTimer::Stop(const Stream& stream) {
  return CudaStatus(cudaEventRecord(static_cast<cudaEvent_t>(stop_), Raw(&stream)), "cudaEventRecord");
}

Result<double> EventTimer::ElapsedMs() const {
  FS_RETURN_IF_ERROR(CudaStatus(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)), "cudaEventSynchronize"));
  float ms = 0.f;
  FS_RETURN_IF_ERROR(
      CudaStatus(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)),
                 "cudaEventElapsedTime"));
  return static_cast<double>(ms);
}

}  // namespace flashstream::cuda
