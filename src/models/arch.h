// ArchFeatures: how one architecture differs from the shared decoder block. Each architecture
// file under src/models/ provides a function that derives its features from a ModelConfig,
// and registry.cpp maps the architecture name onto it. Plain data; thread-compatible.
#pragma once

#include <string_view>

#include "formats/model_index.h"

namespace flashstream {

struct ArchFeatures {
  bool attn_bias = false;  // q/k/v projections carry ".bias" tensors
  bool qk_norm = false;    // per-head RMSNorm on q and k ("attn_q_norm.weight", "attn_k_norm.weight")
};

using ArchFeaturesFn = ArchFeatures (*)(const ModelConfig&);

struct ArchEntry {
  std::string_view name;  // ModelConfig::arch
  ArchFeaturesFn features;
};

// nullptr when the architecture is not supported.
const ArchEntry* FindArch(std::string_view name);

// One per architecture file.
ArchFeatures LlamaFeatures(const ModelConfig& config);

}  // namespace flashstream
