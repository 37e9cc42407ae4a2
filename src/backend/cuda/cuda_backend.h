// The CUDA backend: every Backend operation as CUDA kernels on one stream of
// one device. This header is CUDA-free, so code outside src/backend/cuda can
// construct the backend.
//
// Memory: every float pointer passed to the backend is device memory. A
// TensorView's data points to device memory holding the weight bytes in the
// host block layout (dtype.h), so a weight copied host -> device as raw bytes
// is computed on directly. `ids` (GetRows) and `pos` (Rope) may be host or
// device memory: host arrays are range-checked like the CPU backend does and
// copied up; a device id outside the table yields a row of NaN instead.
// Ordering: operations are enqueued on the backend's stream and return before
// the device has finished; the stream orders them. Synchronize the stream (or
// the device) before reading results on the host. Not thread-safe, like every
// Backend.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "backend/cuda/device_memory.h"

namespace flashstream {

// A backend on `device` with a stream of its own. Aborts with a message when
// the device cannot be used (callers check cuda::DeviceCount() first).
std::unique_ptr<Backend> MakeCudaBackend(int device);

// A backend that enqueues on `stream` (borrowed; must outlive the backend), so
// a caller can order its own copies with the backend's work or capture both
// into a cuda::Graph.
std::unique_ptr<Backend> MakeCudaBackend(const cuda::Stream& stream);

}  // namespace flashstream
