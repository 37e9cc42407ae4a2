// Launchers of the CUDA kernels, for cuda_backend.cpp. Every pointer is device
// memory except where noted; every launcher enqueues on `stream` and checks the
// launch. Shapes are outermost first, as everywhere in flashstream.
#pragma once

#include <cuda_runtime_api.h>  // cudaStream_t

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace flashstream::cuda {

// A weight matrix in device memory: n_rows rows of row_bytes bytes (n_cols
// values in dtype).
struct DeviceWeight {
  const uint8_t* data = nullptr;
  DType dtype = DType::kF32;
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  int64_t row_bytes = 0;
  // MLX dtypes only: scales, biases [n_rows, n_cols / group_size] in aux_dtype (f32, f16 or
  // bf16), aux_row_bytes per row; group_size a multiple of 32.
  const uint8_t* scales = nullptr;
  const uint8_t* biases = nullptr;
  DType aux_dtype = DType::kF32;
  int group_size = 0;
  int64_t aux_row_bytes = 0;
};

// y[n_rows] = w[n_rows, n_cols] · x[n_cols]. Precondition: x is 16-byte
// aligned.
void LaunchGemv(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream);

// The MLX (kMlxQ4, kMlxQ8) cases of LaunchGemv and LaunchDequantRows (mlx_kernels.cu).
void LaunchMlxGemv(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream);
void LaunchMlxRows(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream);

// out[n, n_cols] = f32 values of rows ids[0..n) of w (ids == nullptr: rows
// 0..n), rounded exactly as DequantizeRow does. An id outside [0, n_rows) gives
// a row of NaN.
void LaunchDequantRows(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream);

// out[n_tok, n] = x / sqrt(mean(x^2) + eps) * (weight[n] + weight_offset), the sum rounded
// to f32 first; out may alias x.
void LaunchRmsNorm(const float* x, const float* weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
                   float* out, cudaStream_t stream);

// Rotates x[n_tok, n_heads, head_dim] in place; pos[n_tok]; inv_freq[rope_dim /
// 2].
void LaunchRope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const float* inv_freq,
                int rope_dim, bool interleaved, cudaStream_t stream);

// Causal GQA attention with Backend::Attention's semantics (window 0 = no limit).
// Precondition: head_dim <= 256. With shift_pos (device memory), the kernel attends over
// n_ctx + shift_pos[0] - pos0 keys (a recorded decode step replayed at a later position).
void LaunchAttention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                     int n_kv_heads, int head_dim, float scale, int64_t window, float* out, cudaStream_t stream,
                     const int32_t* shift_pos = nullptr, int32_t pos0 = 0);

// out[n] = silu(gate[n]) * up[n]; out[n] = a[n] + b[n]. out may alias the first
// input.
void LaunchSwiGlu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream);
void LaunchAdd(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream);
// out[n] = gelu_tanh(gate[n]) * up[n]; out[n] = x[n] * s; x[n] = cap * tanh(x[n] / cap).
void LaunchGeluTanhGlu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream);
void LaunchScale(const float* x, float s, int64_t n, float* out, cudaStream_t stream);
void LaunchSoftCap(float* x, int64_t n, float cap, cudaStream_t stream);

// Attention of a prompt (Backend::Attention's semantics) in one kernel on the bf16 tensor cores:
// q, k, v rounded to bf16, scores and the softmax in f32, probabilities rounded to bf16 for the
// product with v, f32 accumulation. Returns false, launching nothing, unless head_dim is 64 or
// 128 and q, k, v are 16-byte aligned.
bool LaunchFlashAttentionBF16(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx,
                              int n_heads, int n_kv_heads, int head_dim, float scale, int64_t window, float* out,
                              cudaStream_t stream);

// s[rows, n_ctx]: rows are (head, query t) with t = row % n_tok at position n_ctx - n_tok + t;
// each row becomes softmax(scale * s) over its causal (and window) keys, 0 elsewhere.
void LaunchCausalSoftmax(float* s, int64_t rows, int64_t n_tok, int64_t n_ctx, float scale, int64_t window,
                         cudaStream_t stream);

// out[n] (bf16) = x[n] rounded to nearest even.
void LaunchToBF16(const float* x, int64_t n, void* out, cudaStream_t stream);

// (dst + (pos[0] - pos0) * bytes)[bytes] = src[bytes], pos in device memory: a recorded KV write
// replayed at a later position. Any alignment.
void LaunchShiftedCopy(void* dst, const void* src, size_t bytes, const int32_t* pos, int32_t pos0,
                       cudaStream_t stream);

// dst[bytes] = src[bytes] by a grid-stride kernel; dst and src 16-byte aligned.
cudaError_t LaunchCopy(void* dst, const void* src, size_t bytes, cudaStream_t stream);

}  // namespace flashstream::cuda
