// PromptAttention (prompt_attention.h): per block of queries, scores S[n_q, keys] = q_h · k_g^T
// over the keys the block's last query sees, a causal softmax (kernels.h), then out_h = P · v_g.
// Query blocks skip most of the masked upper triangle. Heads go in passes of whole kv groups
// that fit kScoreFloats of scores; within a pass, the heads at the same place j of their group
// form one strided batch (one cuBLAS call per j: each call costs microseconds of host time).
// cuBLAS is column-major: a row-major [rows, cols] matrix with leading dimension ld is its
// transpose there.
#include "backend/cuda/prompt_attention.h"

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace flashstream::cuda {
namespace {

constexpr int64_t kScoreFloats = int64_t{64} << 20;  // scores of one pass: 256 MiB

}  // namespace

void PromptAttention(cublasHandle_t handle, Scratch& scores_buf, cudaStream_t stream, const float* q, const float* k,
                     const float* v, int64_t n_tok, int64_t n_ctx, int n_heads, int n_kv_heads, int head_dim,
                     float scale, int64_t window, float* out) {
  const int64_t qw = int64_t{n_heads} * head_dim, kvw = int64_t{n_kv_heads} * head_dim;
  const int group = n_heads / n_kv_heads;
  const int64_t blocks = n_tok >= 256 ? 4 : 1;
  const int64_t block = (n_tok + blocks - 1) / blocks;
  const int64_t group_max = block * n_ctx * group;  // scores of one kv group for the largest block
  const int64_t pass = std::clamp<int64_t>(kScoreFloats / group_max, 1, n_kv_heads);  // kv groups per pass
  auto* scores = static_cast<float*>(scores_buf.Reserve(static_cast<size_t>(pass * group_max) * sizeof(float)));
  const float one = 1.f, zero = 0.f;
  for (int64_t q0 = 0; q0 < n_tok; q0 += block) {
    const int64_t nq = std::min(block, n_tok - q0);
    const int64_t keys = n_ctx - n_tok + q0 + nq;  // the block's last query sees keys 0..keys-1
    const int64_t per_head = nq * keys;            // scores of head i of the pass at i * per_head
    for (int g0 = 0; g0 < n_kv_heads; g0 += static_cast<int>(pass)) {
      const int ng = static_cast<int>(std::min<int64_t>(pass, n_kv_heads - g0));
      for (int j = 0; j < group; ++j) {  // column-major: S^T (keys x nq) = k_g (keys x hd) · q_h^T
        FS_CUBLAS_CHECK(cublasSgemmStridedBatched(
            handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(keys), static_cast<int>(nq), head_dim, &one,
            k + int64_t{g0} * head_dim, static_cast<int>(kvw), head_dim,
            q + q0 * qw + (int64_t{g0} * group + j) * head_dim, static_cast<int>(qw), int64_t{group} * head_dim, &zero,
            scores + j * per_head, static_cast<int>(keys), group * per_head, ng));
      }
      LaunchCausalSoftmax(scores, int64_t{ng} * group * nq, nq, keys, scale, window, stream);
      for (int j = 0; j < group; ++j) {  // out_h^T (hd x nq) = v_g^T (hd x keys) · P^T (keys x nq)
        FS_CUBLAS_CHECK(cublasSgemmStridedBatched(
            handle, CUBLAS_OP_N, CUBLAS_OP_N, head_dim, static_cast<int>(nq), static_cast<int>(keys), &one,
            v + int64_t{g0} * head_dim, static_cast<int>(kvw), head_dim, scores + j * per_head, static_cast<int>(keys),
            group * per_head, &zero, out + q0 * qw + (int64_t{g0} * group + j) * head_dim, static_cast<int>(qw),
            int64_t{group} * head_dim, ng));
      }
    }
  }
}

}  // namespace flashstream::cuda
