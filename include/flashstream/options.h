// The one options structure of flashstream: every flag of the CLI (and later the server,
// the Modelfile and Python) lands here. Plain data; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace flashstream {

// How the next token is chosen from the logits. temperature <= 0 means greedy (argmax).
struct SamplingOptions {
  float temperature = 0.8f;
  int top_k = 40;               // keep the k most likely tokens; <= 0 keeps all
  float top_p = 0.95f;          // nucleus: smallest set with cumulative probability >= top_p; 1 = off
  float min_p = 0.05f;          // drop tokens with p < min_p * p_max; 0 = off
  float repeat_penalty = 1.0f;  // divide positive (multiply negative) logits of recent tokens; 1 = off
  int repeat_last_n = 64;       // how many recent tokens the penalty looks at
  uint64_t seed = 0;            // same seed + same prompt = same output
};

struct GenerateOptions {
  int max_tokens = 512;  // new tokens at most
  SamplingOptions sampling;
  std::vector<std::string> stop;  // stop strings (not printed)
  bool ignore_eos = false;        // keep generating past end-of-generation tokens (benchmarks)
  // Speculative decoding by prompt lookup: draft the tokens that followed the latest earlier
  // occurrence of the longest matching suffix of up to lookup_ngram tokens, and verify them in
  // one pass. 0 = off. Output is unchanged (greedy: token for token; sampling: in distribution).
  int lookup_ngram = 0;
  int draft_max = 8;  // drafted tokens per pass at most, lookup or draft model (adapted below it)
};

struct EngineOptions {
  std::string model_path;         // GGUF file, model folder, or hub id "org/name[:file]"
  std::string revision = "main";  // hub branch, tag or commit for a model id
  int threads = 0;                // compute threads; 0 = all cores
  int ctx = 4096;                 // context length in tokens; 0 = the model's trained context
  bool use_mmap = false;          // map the file instead of reading it into memory (page-cache baseline)
  // Memory budget for weights in GiB (resident weights + staging ring). 0 = automatic: fully
  // resident when the model fits the memory available to the process, streaming otherwise.
  double ram_gib = 0;
  int prefetch_slots = 4;   // staging slots at most (lookahead depth + 1), >= 2
  // MoE under --ram (docs/MOE.md): routed experts in an expert cache (false: stream whole layers,
  // the baseline), its replacement policy ("lru", "lfu", "decay"; "" = the measured default),
  // and lookahead routing (predict and prefetch the next layer's experts; with it and
  // expert_next_token, after the last layer also the next token's layer-0 experts: off by
  // default, measured no faster and ~4% more reads, docs/MOE.md).
  bool expert_cache = true;
  std::string expert_policy;
  bool expert_lookahead = true;
  bool expert_next_token = false;
  int io_queue_depth = 16;  // O_DIRECT requests in flight while streaming
  int io_chunk_kib = 1024;  // bytes per read request
  bool pacer = false;       // pace streaming reads with the token-bucket controller
  std::string trace_path;   // write a per-layer I/O and compute timeline (CSV) here
  // Quantize activations to int8 for quantized matmuls (faster; logits drift ~1e-3 NMSE from
  // the f32 reference). Off: f32 activations against the native weight blocks.
  bool int8_activations = false;
  // With int8_activations: int8 digit levels per activation, 1..3 (1: llama.cpp's scheme; each
  // more level divides the rounding error by 256 for one more integer dot product; 3 keeps the
  // logits within f32 rounding of the f32-activation kernels). Option "act" sets both fields.
  int int8_levels = 1;
  bool verbose = false;  // extra diagnostics on stderr
  // KV cache (docs/KV_CACHE.md): each query reads its last kv_window positions' K/V in FP16 and
  // older ones quantized to kv_quant bits (8 or 4; 0 = FP16 everywhere); quantized K/V beyond
  // kv_ram_gib of RAM (0 = no limit) spill to an unnamed file in kv_spill_dir.
  int kv_quant = 8;
  int kv_window = 128;
  double kv_ram_gib = 0;
  std::string kv_spill_dir;        // "" = $TMPDIR, else /var/tmp
  bool kv_keys_per_token = false;  // key scales per token and 64 channels instead of per channel
  bool kv_f32 = false;             // unquantized K/V in f32 instead of FP16 (exact reference, 2x memory)
  // Speculative decoding with a small resident model sharing the tokenizer: it drafts
  // GenerateOptions::draft_max tokens at most per pass (where prompt lookup finds none).
  std::string draft_model_path;
  // Speculative decoding from the model itself (4 or 8; 0 = off): when layers stream, a 4- or
  // 8-bit copy of the streamed layers is built at load, kept resident inside --ram, and drafts
  // (where prompt lookup and a draft model give none), sharing the resident layers and the KV cache.
  int self_draft_bits = 0;
  // Folder where self-draft copies are cached and read back on later loads; "" = the default
  // ($FLASHSTREAM_CACHE/self-draft, else ~/.cache/flashstream/self-draft), "none" = no cache.
  std::string self_draft_cache;
  // Where the model computes: "cpu", or "cuda" / "cuda:N" (GPU N; needs a CUDA build).
  std::string device = "cpu";
  // GPU memory budget for weights in GiB (resident layers + the ring of streamed layers, which
  // has prefetch_slots buffers at most). 0 = automatic: the GPU's free memory less the KV cache
  // and scratch. Layers beyond it stay in pinned host memory, or stream from disk under --ram.
  double vram_gib = 0;
  // GPU: batched matmuls (prefill) on bf16 tensor cores (x and non-bf16 weights rounded to
  // bf16, f32 accumulation) and prompt attention products in TF32. Off: f32 products, logits
  // within f32 rounding of the CPU's.
  bool bf16_activations = false;
  // Jinja chat template replacing the model's own (Modelfile TEMPLATE); "" = the model's.
  std::string chat_template;
};

// One turn of a preset conversation: role "system", "user" or "assistant".
struct PresetMessage {
  std::string role;
  std::string content;
};

// What a conversation starts from (CLI --system, Modelfile SYSTEM and MESSAGE): used by chat,
// run and the server when the request brings no system message of its own.
struct ChatOptions {
  std::string system;                   // system message; "" = none
  std::vector<PresetMessage> messages;  // turns put before the user's first message
};

// `flashstream serve`: where it listens and what it accepts.
struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback by default; "0.0.0.0" listens on every interface
  int port = 8080;                 // 0 = any free port (the chosen one is printed)
  std::string api_key;             // "" = no authentication; else "Authorization: Bearer KEY" is required
  size_t max_body_bytes = 4u << 20;  // larger request bodies get 413
  int max_queue = 64;              // requests waiting for the engine at most; more get 503
  std::string model_id;            // name in /v1/models; "" = the model's name or file stem
  // Requests without a seed use GenerateOptions' seed when true (--seed / PARAMETER seed given),
  // a fresh random seed each when false.
  bool fixed_seed = false;
};

}  // namespace flashstream
