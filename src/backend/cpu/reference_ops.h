// Scalar reference implementations of every Backend operation: plain loops, double
// accumulation, no tiling or threads. They define what the fast kernels compute and are
// what tests (CPU and CUDA) compare against. Slow by design; thread-safe (no state).
// Argument shapes and aliasing rules are those of the Backend interface (backend.h).
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/tensor.h"

namespace flashstream::ref {

// y[n_tok, n_out] = x[n_tok, n_in] · dequantized(w)[n_out, n_in]^T, accumulated in double.
void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y);
void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out);
void RmsNorm(const float* x, const TensorView& weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
             float* out);
void Rope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const RopeParams& params);
void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
               int n_kv_heads, int head_dim, float scale, int64_t window, float* out);
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void GeluTanhGlu(const float* gate, const float* up, int64_t n, float* out);
void Add(const float* a, const float* b, int64_t n, float* out);
void Scale(const float* x, float s, int64_t n, float* out);
void SoftCap(float* x, int64_t n, float cap);

// Inverse frequency of rotary pair i (0 <= i < rope_dim/2), llama3 scaling applied when
// params.scale_factor > 0; computed in double, rounded to float (the kernels use it as is).
float RopeInvFreq(const RopeParams& params, int i);

// The activation quantization of the int8 matmul kernels with `levels` int8 digits (1..3, see
// QuantizedActs): per block of 32 values, top = max|x| / 127, d = top * 2^(-8 (levels - 1)),
// q = round-half-even((x * (1 / top)) * 2^(8 (levels - 1))) in float (q = 0 when top = 0).
// x[n], q[n], d[n/32]; n % 32 == 0. Kernels must produce exactly these q (as digits) and d.
void QuantizeActivations(const float* x, int64_t n, int levels, int32_t* q, float* d);

}  // namespace flashstream::ref
