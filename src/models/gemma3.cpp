// Gemma 3 (text): embeddings scaled by sqrt(n_embd); RMSNorm before and after both attention
// and feed-forward (weights used as 1 + w, see ModelConfig::norm_weight_offset); QK-norm;
// GELU(tanh)-gated feed-forward; five sliding-window layers with their own RoPE base per
// global layer (ModelConfig::sliding_window_period, rope_theta_swa); attention scale
// query_pre_attn_scalar^-0.5 (ModelConfig::attn_scale); optional final logit soft-capping.
#include "models/arch.h"

namespace flashstream {

ArchFeatures Gemma3Features(const ModelConfig&) {
  ArchFeatures f;
  f.qk_norm = true;
  f.post_norms = true;
  f.scale_embeddings = true;
  f.ffn_act = FfnActivation::kGeluTanh;
  return f;
}

}  // namespace flashstream
