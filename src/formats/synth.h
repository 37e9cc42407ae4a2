// Synthetic GGUF models (llama, mistral, qwen2, qwen3, gemma3 tensor sets) with random weights, for streaming and speed work where
// the values do not matter (but must keep a forward pass finite). Deterministic from the seed:
// the same options always give the same bytes, whatever the thread count.
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
};

// "tiny" (2 layers, 64 wide, 4/2 heads, ff 128), "7b", "13b", "70b" (Llama-2 shapes).
Result<SynthShape> SynthPreset(std::string_view name);

struct SynthOptions {
  // Architecture: "llama", "mistral" (sliding window 4096), "qwen2" (q/k/v biases), "qwen3"
  // (QK-norm) or "gemma3" (QK-norm, post-norms, sliding window 512 on 5 of every 6 layers).
  std::string arch = "llama";
  SynthShape shape;
  std::string name = "flashstream-synth";  // general.name
  DType dtype = DType::kQ8_0;      // weights: f32, f16, bf16, q8_0, q4_0 or q4_1; norms are f32
  uint64_t seed = 0;
  std::string vocab_path;          // GGUF whose tokenizer.* metadata is copied (sets vocab size)
  std::string output_path;
  bool tied_embeddings = false;    // true: no output.weight (the head reuses token_embd)
  int generator_threads = 2;       // threads producing random bytes while the caller writes
  bool direct_io = true;           // O_DIRECT writes: disk speed, and no GBs of dirty page cache
  bool sync = true;                // fdatasync before returning, so timings include the disk
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
