// Device-memory helpers for code outside src/backend/cuda: allocation, raw-byte
// copies, streams, CUDA graphs and pinned host memory, behind a CUDA-free
// interface (handles are opaque). Failures come back as Status naming the call,
// the byte count and CUDA's message. Owning types are move-only; none is
// thread-safe, but distinct objects may be used from distinct threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace flashstream::cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device.
int DeviceCount();
// "NVIDIA H100 80GB HBM3, 132 SMs, cc 9.0", or an error.
Result<std::string> DeviceDescription(int device);
// Makes `device` current for the calling thread.
Status SetDevice(int device);
// Waits for all work on the current device.
Status DeviceSynchronize();

// Owns one stream on the device that was current when it was created.
class Stream {
 public:
  static Result<Stream> Create(int device);
  Stream() = default;
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  void* handle() const { return handle_; }  // the cudaStream_t
  int device() const { return device_; }
  Status Synchronize() const;

 private:
  void* handle_ = nullptr;
  int device_ = 0;
};

// Owns `size` bytes of device memory (cudaMalloc: 256-byte aligned).
class DeviceBuffer {
 public:
  static Result<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  std::byte* data() const { return data_; }
  template <typename T>
  T* as() const {
    return reinterpret_cast<T*>(data_);
  }
  size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Owns `size` bytes of page-locked host memory (fast, asynchronous host <->
// device copies).
class PinnedBuffer {
 public:
  static Result<PinnedBuffer> Allocate(size_t bytes);
  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Raw-byte copies. With a stream they are enqueued on it (asynchronous when the
// host side is pinned); without one they complete before returning.
Status CopyToDevice(void* dst, const void* src, size_t bytes, const Stream* stream = nullptr);
Status CopyToHost(void* dst, const void* src, size_t bytes, const Stream* stream = nullptr);
Status CopyOnDevice(void* dst, const void* src, size_t bytes, const Stream* stream = nullptr);

// Copies with a kernel on the SMs instead of the copy engines (enqueued on `stream`); a
// benchmark's bandwidth ceiling. Precondition: both buffers 16-byte aligned (else error).
Status CopyWithKernel(void* dst, const void* src, size_t bytes, const Stream& stream);

// A captured sequence of work on one stream, replayed with one launch.
// Call order: BeginCapture, enqueue work on the stream, EndCapture, then Launch
// any number of times. Work enqueued while capturing does not run until Launch.
class Graph {
 public:
  Graph() = default;
  Graph(Graph&& o) noexcept;
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();

  Status BeginCapture(const Stream& stream);
  Status EndCapture(const Stream& stream);
  Status Launch(const Stream& stream) const;

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

// Device time between two points of a stream, in milliseconds.
class EventTimer {
 public:
  static Result<EventTimer> Create();
  EventTimer() = default;
  EventTimer(EventTimer&& o) noexcept;
  EventTimer& operator=(EventTimer&& o) noexcept;
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  ~EventTimer();

  Status Start(const Stream& stream);
  Status Stop(const Stream& stream);
  // Waits for the stop event; precondition: Start and Stop were recorded.
  Result<double> ElapsedMs() const;

 private:
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;
};

}  // namespace flashstream::cuda
