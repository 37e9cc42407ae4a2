// Writes a Hugging Face config.json for a ModelConfig (the inverse of
// hf_config.h for the keys flashstream reads), optionally with MLX's
// "quantization" block.
#pragma once

#include <string>

#include "core/status.h"          // Status
#include "formats/hf_config.h"    // MlxQuantSetting
#include "formats/model_index.h"  // ModelConfig

namespace flashstream {

// `torch_dtype`: "float32", "bfloat16" or "float16"; !quant.quantized() = no
// "quantization" block; overrides are written as per-module entries of it.
Status WriteHfConfig(const ModelConfig& config, const std::string& torch_dtype, const MlxQuantConfig& quant,
                     const std::string& path);

}  // namespace flashstream
