// Model conversion behind `flashstream convert`: any readable model (GGUF, HF
// or MLX folder) to an HF folder (F32/F16/BF16 safetensors), an MLX-quantized
// folder (affine q4/q8, MLX's formula, see core/mlx_quant.h) or a GGUF file.
// Block-quantized sources are dequantized to f32 first. Q/K rows are permuted
// between GGUF's adjacent-pair RoPE layout and HF's halves layout as the target
// needs. Lives in apps/ because it needs the CPU dequantizers
// (src/backend/cpu/quant.h) as well as the format writers.
#pragma once

#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/model_index.h"

namespace flashstream::cli {

enum class ConvertTarget { kHf, kMlxQ4, kMlxQ8, kGguf };

struct ConvertOptions {
  ConvertTarget target = ConvertTarget::kHf;
  // hf: tensor dtype; mlx: dtype of scales, biases and unquantized tensors
  // (norms); gguf: dtype of tensors that have no GGUF type as stored (MLX
  // ones); f32, f16 or bf16.
  DType dtype = DType::kF32;
  int group_size = 64;  // mlx: 32, 64 or 128
  // mlx-q4: token_embd / output stay 8-bit (a per-module override in
  // config.json) unless the source already stores them with 4 bits or fewer:
  // they set every logit, and 4 bits there cost far more accuracy than in one
  // layer's matrices (llama.cpp's Q4 recipes do the same).
  bool embed_8bit = true;
  std::string source_path;  // as given to ReadModel (GGUF targets copy its
                            // tokenizer keys)
  std::string output;       // folder (hf, mlx) or file (gguf)
};

// progress(done, total) in source bytes. *tokenizer_written (optional) tells whether the
// output carries the source's tokenizer: GGUF from GGUF copies its metadata; HF/MLX folders
// get one only once WriteFolderTokenizer (model_convert.cpp) has a tokenizer.json writer.
Status ConvertModel(const ModelIndex& in, const ConvertOptions& options,
                    const std::function<void(uint64_t, uint64_t)>& progress, bool* tokenizer_written = nullptr);

}  // namespace flashstream::cli
