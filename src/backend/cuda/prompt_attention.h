// Causal attention of a prompt chunk as dense products on cuBLAS, for Backend::Attention with
// many query tokens (same semantics: GQA, window 0 = none). Host code of the CUDA backend only.
#pragma once

#include <cublas_v2.h>         // cublasHandle_t
#include <cuda_runtime_api.h>  // cudaStream_t

#include <cstdint>

#include "backend/cuda/scratch.h"

namespace flashstream::cuda {

// q, out [n_tok, n_heads, head_dim]; k, v [n_ctx, n_kv_heads, head_dim] (device memory).
// `handle` enqueues on `stream` (its math mode decides f32 or TF32); `scores` holds up to
// 256 MiB of scores between the calls it enqueues.
void PromptAttention(cublasHandle_t handle, Scratch& scores, cudaStream_t stream, const float* q, const float* k,
                     const float* v, int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv_heads, int head_dim,
                     float scale, int64_t window, float* out);

}  // namespace flashstream::cuda
