// Hugging Face config.json -> ModelConfig (+ MLX quantization settings), for
// the model types llama, mistral, qwen2, qwen3 and gemma3 / gemma3_text.
// Generic keys only (sizes, heads, rope, epsilon, tying); architecture-specific
// extras are left to src/models. Pure; never trusts its input: every value is
// type- and range-checked, errors name the file and key.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"          // Result
#include "formats/model_index.h"  // ModelConfig

namespace flashstream {

// One quantization setting: bits 0 = not quantized.
struct MlxQuantSetting {
  int group_size = 0;
  int bits = 0;
};

// config.json "quantization" (or "quantization_config"), as mlx-lm writes it.
struct MlxQuantConfig {
  MlxQuantSetting base;  // {0, 0} when the model is not quantized
  // Per-module overrides keyed by the HF module path
  // ("model.layers.0.mlp.gate_proj"); `false` in the file gives bits 0.
  std::map<std::string, MlxQuantSetting> overrides;
  bool quantized() const { return base.bits != 0 || !overrides.empty(); }
  // The setting of one module (override or base).
  MlxQuantSetting For(const std::string& module) const;
};

struct HfConfig {
  std::string model_type;  // as in the file ("gemma3_text")
  ModelConfig config;      // arch: "llama", "mistral", "qwen2", "qwen3" or "gemma3";
                           // rope_interleaved false
  bool tie_given = false;  // tie_word_embeddings was present (else
                           // config.tied_embeddings is the type's default)
  MlxQuantConfig quant;
  std::map<std::string, std::string> metadata;  // top-level scalars rendered as text, for inspect
};

// Parses config.json text; `path` is only used in messages.
Result<HfConfig> ParseHfConfig(std::string_view json, const std::string& path);

}  // namespace flashstream
