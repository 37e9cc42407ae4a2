// Hugging Face tensor names <-> canonical (GGUF-style) names, see
// model_index.h.
//   model.embed_tokens.weight -> token_embd.weight, model.norm.weight ->
//   output_norm.weight, lm_head.weight -> output.weight,
//   model.layers.N.self_attn.q_proj.bias -> blk.N.attn_q.bias,
//   ... q_norm/k_norm -> attn_q_norm/attn_k_norm, mlp.{gate,up,down}_proj ->
//   ffn_{gate,up,down}, input_layernorm -> attn_norm, post_attention_layernorm
//   -> ffn_norm (Gemma 3: post_attention_norm, with pre_feedforward_layernorm
//   -> ffn_norm and post_feedforward_layernorm -> post_ffw_norm, as llama.cpp
//   names them).
// Mixture of experts: mlp.gate / block_sparse_moe.gate -> ffn_gate_inp,
//   mlp.experts.E.{gate,up,down}_proj and block_sparse_moe.experts.E.{w1,w3,w2} ->
//   ffn_{gate,up,down}.E, mlp.shared_expert.{gate,up,down}_proj -> ffn_{gate,up,down}_shexp,
//   mlp.shared_expert_gate -> ffn_gate_inp_shexp.
// The suffix (weight, bias, and MLX's scales, biases) is kept. A
// "language_model." prefix (multimodal Gemma 3 checkpoints) is dropped. Pure
// functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flashstream {

// Canonical name of an HF tensor, or nullopt for tensors the decoder does not
// use.
std::optional<std::string> CanonicalFromHf(std::string_view hf, bool gemma3);

// HF name of a canonical tensor (the inverse), or nullopt; mixtral picks Mixtral's expert and
// router names (block_sparse_moe.*) over Qwen's (mlp.*).
std::optional<std::string> HfFromCanonical(std::string_view canonical, bool gemma3, bool mixtral = false);

}  // namespace flashstream
