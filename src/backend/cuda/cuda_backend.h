// The CUDA backend: every Backend operation as CUDA kernels on one stream of one device.
// This header is CUDA-free, so code outside src/backend/cuda can construct the backend.
//
// Memory: every float pointer passed to the backend is device memory (Backend::Allocate gives
// it; Upload/Download/Copy are enqueued on the backend's stream). A TensorView's data
// points to device memory holding the weight bytes in the host block layout (dtype.h), so a
// weight copied host -> device as raw bytes is computed on directly (F32 weights must be
// 4-byte aligned, F16/BF16 2-byte; block-quantized ones may sit at any address). `ids`
// (GetRows) and `pos` (Rope) may be host or device memory: host arrays are range-checked as
// the CPU backend does and copied up; a device id outside the table yields a row of NaN.
// Numerics: MatMul of one token runs the GEMV kernels (f32 sums), of several tokens
// dequantizes to f32 and calls cuBLAS SGEMM (no TF32); GetRows is bitwise equal to the CPU.
// Attention of 32 or more query tokens runs as cuBLAS products (scores, causal softmax, values).
// With CudaBackendOptions::bf16_activations, MatMul of several tokens instead rounds x (and
// non-bf16 weights, dequantized) to bf16 for tensor-core GEMMs with f32 accumulation, and those
// attention products use TF32: much faster prefill, at bf16/TF32 rounding of the inputs.
// Ordering: operations are enqueued on the backend's stream and return before the device
// has finished; synchronize the stream (or the device) before reading results on the host.
// Graph capture: capture only calls whose ids/pos are device memory, and only after one
// uncaptured call of the same shapes and RoPE parameters (scratch and RoPE tables are made
// on first use). Recorded decode steps (Backend::BeginStepRecording) are CUDA graphs of such
// calls: Copy becomes a kernel that reads its destination row from the device position, and
// single-query Attention reads its key count from it; host ids/pos, Upload/Download and
// several-token MatMul/Attention spoil a recording (EndStepRecording then returns false). A
// recording is dropped when a scratch buffer it uses has moved. Not thread-safe, like every
// Backend.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "backend/cuda/device_memory.h"

namespace flashstream {

struct CudaBackendOptions {
  bool bf16_activations = false;  // batched MatMul through bf16 tensor-core GEMMs (see above)
  bool step_graphs = true;         // record decode steps as CUDA graphs (Backend::BeginStepRecording)
};

// A backend on `device` with a stream of its own. Aborts with a message when the device
// cannot be used (callers check cuda::DeviceCount() first).
std::unique_ptr<Backend> MakeCudaBackend(int device, const CudaBackendOptions& options = {});

// A backend that enqueues on `stream` (borrowed; must outlive the backend), so a caller can
// order its own copies with the backend's work or capture both into a cuda::Graph.
std::unique_ptr<Backend> MakeCudaBackend(const cuda::Stream& stream, const CudaBackendOptions& options = {});

// Recorded decode steps replayed so far by every CUDA backend of the process (thread-safe).
uint64_t CudaStepReplays();

// The stream `backend` enqueues on; precondition: `backend` came from MakeCudaBackend.
const cuda::Stream& CudaBackendStream(const Backend& backend);

}  // namespace flashstream
