// ArchFeatures: how one architecture differs from the shared decoder block. Each architecture
// file under src/models/ provides a function that derives its features from a ModelConfig,
// and registry.cpp maps the architecture name onto it. Per-layer attention choices that come
// from hyperparameters (sliding windows, their RoPE base, the attention scale) are read from
// the ModelConfig directly. Plain data; thread-compatible.
#pragma once

#include <string_view>

#include "formats/model_index.h"

namespace flashstream {

// The feed-forward gate activation: out = act(gate) * up.
enum class FfnActivation {
  kSilu,      // SwiGLU (Llama, Mistral, Qwen)
  kGeluTanh,  // GeGLU with tanh-approximated GELU (Gemma)
  kCount,     // sentinel
};

struct ArchFeatures {
  bool attn_bias = false;         // q/k/v projections carry ".bias" tensors [width]
  bool qk_norm = false;           // per-head RMSNorm on q and k before RoPE ("attn_{q,k}_norm.weight")
  bool post_norms = false;        // RMSNorm on each block's output before the residual add
                                  // ("post_attention_norm.weight", "post_ffw_norm.weight")
  bool scale_embeddings = false;  // token embeddings multiplied by sqrt(n_embd) (Gemma)
  FfnActivation ffn_act = FfnActivation::kSilu;
};

using ArchFeaturesFn = ArchFeatures (*)(const ModelConfig&);

struct ArchEntry {
  std::string_view name;  // ModelConfig::arch
  ArchFeaturesFn features;
};

// nullptr when the architecture is not supported.
const ArchEntry* FindArch(std::string_view name);
// Comma-separated names of the supported architectures, for error messages.
std::string_view SupportedArchNames();

// One per architecture file.
ArchFeatures LlamaFeatures(const ModelConfig& config);
ArchFeatures MistralFeatures(const ModelConfig& config);
ArchFeatures Qwen2Features(const ModelConfig& config);
ArchFeatures Qwen3Features(const ModelConfig& config);
ArchFeatures Gemma3Features(const ModelConfig& config);
ArchFeatures Qwen2MoeFeatures(const ModelConfig& config);
ArchFeatures Qwen3MoeFeatures(const ModelConfig& config);

}  // namespace flashstream
