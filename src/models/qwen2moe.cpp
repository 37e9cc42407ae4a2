// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): the Qwen2 block (q/k/v biases) whose feed-forward
// is a mixture of experts (ModelConfig::n_expert) plus a shared expert on every token scaled by
// sigmoid(ffn_gate_inp_shexp · x); top-k probabilities used as the softmax gave them unless
// norm_topk_prob (models/moe_block.h).
#include "models/arch.h"

namespace flashstream {

ArchFeatures Qwen2MoeFeatures(const ModelConfig&) {
  ArchFeatures f;
  f.attn_bias = true;
  return f;
}

}  // namespace flashstream
