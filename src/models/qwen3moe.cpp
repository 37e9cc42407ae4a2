// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): the Qwen3 block (QK-norm, no biases) whose
// feed-forward is a mixture of experts, top-k renormalized (norm_topk_prob), no shared expert
// (models/moe_block.h).
#include "models/arch.h"

namespace flashstream {

ArchFeatures Qwen3MoeFeatures(const ModelConfig&) {
  ArchFeatures f;
  f.qk_norm = true;
  return f;
}

}  // namespace flashstream
