// Opens any model flashstream reads: a GGUF file or a Hugging Face / MLX folder
// (the folder itself, or its config.json or a .safetensors file inside it).
#pragma once

#include <string>

#include "core/status.h"
#include "formats/model_index.h"

namespace flashstream {

Result<ModelIndex> ReadModel(const std::string& path);

}  // namespace flashstream
