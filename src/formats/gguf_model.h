// GGUF -> ModelIndex: architecture hyperparameters, tokenizer and validated tensor table.
// Everything here works on a parsed GgufFile (no I/O) except the Read* helpers, which read the
// header from disk first. Errors name the file and the key or tensor, expected vs actual.
#pragma once

#include <string>

#include "core/status.h"          // Result
#include "formats/gguf.h"         // GgufFile, ReadGgufFile
#include "formats/model_index.h"  // ModelIndex, ModelConfig, TokenizerSpec

namespace flashstream {

// Hyperparameters from `{arch}.*` keys, validated (positive, GQA divisibility, upper bounds).
// vocab_size comes from `{arch}.vocab_size` or else the tokenizer's token count.
// Unknown architectures are rejected (supported: see gguf_model.cpp's table).
Result<ModelConfig> ConfigFromGguf(const GgufFile& gguf);

// Tokenizer from `tokenizer.ggml.*` and `tokenizer.chat_template`. A file without
// `tokenizer.ggml.model` gives Kind::kNone. Token ids and array lengths are validated.
Result<TokenizerSpec> TokenizerFromGguf(const GgufFile& gguf);

// The full ModelIndex: config, tokenizer, tensors with absolute offsets, metadata rendered as
// text. Checks that every tensor the architecture requires is present with the shape the
// config implies, and that no layer tensor lies beyond block_count.
Result<ModelIndex> ModelIndexFromGguf(const GgufFile& gguf);

// ReadGgufFile + ModelIndexFromGguf.
Result<ModelIndex> ReadGgufModel(const std::string& path);

// ReadGgufFile + TokenizerFromGguf; no config or tensor checks (works on vocab-only files).
Result<TokenizerSpec> ReadGgufTokenizer(const std::string& path);

}  // namespace flashstream
