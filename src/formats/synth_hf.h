// Synthetic Llama-shaped models as Hugging Face folders (config.json +
// model.safetensors, F32, F16 or BF16) or MLX-quantized folders (4/8-bit packed
// codes with random scales and biases), for streaming and speed work. Values
// are random but keep a forward pass finite; deterministic from the seed.
// Written at disk speed (O_DIRECT) with a few chunk buffers of memory. No
// tokenizer is written (the folder has none; see hf_model.h).
#pragma once

#include "formats/synth.h"  // SynthOptions, SynthProgress

namespace flashstream {

enum class SynthFolder { kHf, kMlxQ4, kMlxQ8 };

// options.output_path is the folder (created); options.dtype: hf tensor dtype
// (f32, f16, bf16), or for MLX the dtype of scales, biases and norms;
// options.vocab_path: a GGUF whose token count sets the vocabulary size. MLX
// groups are 64 values.
Status SynthesizeLlamaFolder(const SynthOptions& options, SynthFolder format, const SynthProgress& progress = nullptr);

}  // namespace flashstream
