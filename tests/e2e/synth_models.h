// Small synthetic models for end-to-end tests: a byte-level SentencePiece vocabulary (259
// tokens, so layers dominate the weights and small budgets are meaningful) and Llama-shaped
// random-weight GGUFs written with the project's own generator.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <string>

#include "formats/gguf_writer.h"
#include "formats/synth.h"
#include "formats/synth_hf.h"

namespace flashstream::testing {

inline std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + fmt::format("fs_{}_{}", getpid(), name);
}

// Writes a vocab-only GGUF: <unk>, <s>, </s>, then the 256 byte tokens.
inline std::string WriteByteVocab() {
  const std::string path = TempPath("byte_vocab.gguf");
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    types.push_back(6);
  }
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("tokenizer.ggml.model", GgufValue::String("llama"));
  w.Set("tokenizer.ggml.scores", GgufValue::F32Array(std::vector<float>(tokens.size(), 0.0f)));
  w.Set("tokenizer.ggml.token_type", GgufValue::I32Array(types));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(tokens));
  w.Set("tokenizer.ggml.unknown_token_id", GgufValue::U32(0));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
  Status s = w.Write(path, [](const GgufTensorInfo&, GgufTensorSink&) { return Status::Ok(); });
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

// A model of `arch` (llama by default) with `layers` blocks, width 128, 4 heads (2 kv), ff 384,
// byte vocabulary.
// MLX dtypes give an MLX-quantized llama folder (bf16 scales, biases and norms), `hf_folder` a
// Hugging Face safetensors llama folder of `dtype` (f32/f16/bf16); remove folders with rm -rf.
inline std::string WriteSynthModel(DType dtype, int layers, const std::string& vocab, uint64_t seed = 1,
                                   const std::string& arch = "llama", bool hf_folder = false) {
  const bool folder = IsMlx(dtype) || hf_folder;
  const std::string path = TempPath(
      fmt::format("synth_{}_{}_{}_{}{}", arch, Name(dtype), layers, seed, folder ? (hf_folder ? "_hf" : "") : ".gguf"));
  SynthOptions o;
  o.shape.n_layers = layers;
  o.shape.n_embd = 128;
  o.shape.n_heads = 4;
  o.shape.n_kv_heads = 2;
  o.shape.n_ff = 384;
  o.shape.context_length = 512;
  o.dtype = dtype;
  o.seed = seed;
  o.vocab_path = vocab;
  o.arch = arch;
  o.output_path = path;
  o.sync = false;
  if (IsMlx(dtype)) o.dtype = DType::kBF16;
  Status s = hf_folder      ? SynthesizeLlamaFolder(o, SynthFolder::kHf)
             : IsMlx(dtype) ? SynthesizeLlamaFolder(o, dtype == DType::kMlxQ4 ? SynthFolder::kMlxQ4 : SynthFolder::kMlxQ8)
                            : SynthesizeGguf(o);
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

}  // namespace flashstream::testing
