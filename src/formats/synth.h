// Synthetic GGUF models (llama, mistral, qwen2, qwen3, gemma3 tensor sets) with random weights, for streaming and speed
// work where the values do not matter (but must keep a forward pass finite). Deterministic from the seed: the same
// options always give the same bytes, whatever the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/dtype.h"   // weight DType
#include "core/status.h"  // Status, Result

namespace flashstream {

// Transformer shape; the vocabulary size comes from the vocabulary source file.
struct SynthShape {
  int n_layers = 0;
  int n_embd = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int n_ff = 0;
  int context_length = 4096;
  int head_dim = 0;  // 0 = n_embd / n_heads (qwen3 and gemma3 often differ)
  // Mixture of experts (ModelConfig's fields of the same names); n_expert 0 = dense. Experts
  // are written stacked as llama.cpp does (blk.N.ffn_{gate,up,down}_exps).
  int n_expert = 0;
  int n_expert_used = 0;
  int n_ff_expert = 0;
  int n_ff_shared = 0;  // shared expert width (qwen2moe); 0 = none
};

// "tiny" (2 layers, 64 wide, 4/2 heads, ff 128), "7b", "13b", "70b" (Llama-2 shapes); MoE:
// "tiny-moe" (4 layers, 64 wide, 8 experts of ff 64, top-2), "mixtral-8x7b" (32 layers, 4096
// wide, 8 experts of ff 14336, top-2), "qwen3-30b-a3b" (48 layers, 2048 wide, head_dim 128,
// 128 experts of ff 768, top-8).
Result<SynthShape> SynthPreset(std::string_view name);

struct SynthOptions {
  // Architecture: "llama", "mistral" (sliding window 4096), "qwen2" (q/k/v biases), "qwen3"
  // (QK-norm), "gemma3" (QK-norm, post-norms, sliding window 512 on 5 of every 6 layers),
  // "qwen2moe" (biases; a shared expert when shape.n_ff_shared > 0) or "qwen3moe" (QK-norm);
  // "llama" with shape.n_expert > 0 is Mixtral.
  std::string arch = "llama";
  SynthShape shape;
  std::string name = "flashstream-synth";  // general.name
  DType dtype = DType::kQ8_0;              // weights: f32, f16, bf16, q8_0, q4_0 or q4_1; norms are f32
  uint64_t seed = 0;
  std::string vocab_path;  // GGUF whose tokenizer.* metadata is copied (sets vocab size)
  std::string output_path;
  bool tied_embeddings = false;  // true: no output.weight (the head reuses token_embd)
  int generator_threads = 2;     // threads producing random bytes while the caller writes
  bool direct_io = true;         // O_DIRECT writes: disk speed, and no GBs of dirty page cache
  bool sync = true;              // fdatasync before returning, so timings include the disk
};

// Progress in bytes of tensor data written so far (of the data section's total); called on the
// calling thread after each chunk.
using SynthProgress = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

// Names of the architectures SynthesizeGguf writes, for messages: "llama, mistral, ...".
std::string_view SynthArchNames();

// Writes a GGUF of options.arch with random weights: N(0, 0.02)-scale matrices and biases,
// norms near 1, quantized blocks with finite f16 scales. Memory use is a few chunk buffers,
// independent of model size.
Status SynthesizeGguf(const SynthOptions& options, const SynthProgress& progress = nullptr);

}  // namespace flashstream
