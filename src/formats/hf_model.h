// Hugging Face model folders -> ModelIndex: config.json plus model.safetensors,
// or shards named by model.safetensors.index.json. F32/F16/BF16 tensors, and
// MLX-quantized folders (config.json "quantization"; packed uint32 `weight` +
// `scales` + `biases` per linear), whose weights become kMlxQ4/kMlxQ8 tensors
// with companion ".scales"/".biases" tensors (see TensorInfo). Tensor offsets
// point into the original files, so weights stream with no conversion. Errors
// name the file and the tensor or key, expected vs actual.
#pragma once

#include <string>

#include "core/status.h"          // Result
#include "formats/model_index.h"  // ModelIndex, TokenizerSpec

namespace flashstream {

// True when `path` is a directory holding config.json.
bool IsHfFolder(const std::string& path);

// Reads the folder's config, safetensors headers and tokenizer. format is
// "safetensors", or "mlx" when any tensor is MLX-quantized.
Result<ModelIndex> ReadHfModel(const std::string& folder);

// The tokenizer of an HF folder. The one place that reads tokenizer.json: until
// a reader for it is wired in here, this gives Kind::kNone (Evaluate on ids
// works, generation reports "no tokenizer").
Result<TokenizerSpec> ReadFolderTokenizer(const std::string& folder);

}  // namespace flashstream
