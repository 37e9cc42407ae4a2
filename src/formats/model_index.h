// ModelIndex: the one normalized description of a model that every format reader produces.
// Architecture hyperparameters, tokenizer data and, per tensor, its canonical name, dtype,
// shape and location (file, offset, bytes). Nothing above src/formats knows which file format
// a model came from. Plain value type; thread-compatible.
//
// Canonical tensor names follow GGUF's: "token_embd.weight", "output_norm.weight",
// "output.weight", and per layer "blk.{i}.attn_norm.weight", "blk.{i}.attn_q.weight",
// "blk.{i}.attn_k.weight", "blk.{i}.attn_v.weight", "blk.{i}.attn_output.weight",
// "blk.{i}.ffn_norm.weight", "blk.{i}.ffn_gate.weight", "blk.{i}.ffn_up.weight",
// "blk.{i}.ffn_down.weight"; Qwen2 adds "blk.{i}.attn_{q,k,v}.bias"; Qwen3 and Gemma 3 add
// "blk.{i}.attn_q_norm.weight" and "blk.{i}.attn_k_norm.weight" ([head_dim]); Gemma 3 adds
// "blk.{i}.post_attention_norm.weight" and "blk.{i}.post_ffw_norm.weight" (its
// "blk.{i}.ffn_norm.weight" is the pre-feed-forward norm). Readers map other layouts onto these names and onto the rope convention
// described by ModelConfig::rope_interleaved.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace flashstream {

// Architecture hyperparameters. Counts are exact; 0 means "absent" where noted.
struct ModelConfig {
  std::string arch;            // registry key: "llama" (also Mixtral), "mistral", "qwen2", "qwen3",
                               // "gemma3", "qwen2moe", "qwen3moe"
  std::string name;            // human-readable model name ("" if unknown)
  int n_layers = 0;            // transformer blocks
  int n_embd = 0;              // model width
  int n_ff = 0;                // feed-forward hidden width
  int n_heads = 0;             // query heads
  int n_kv_heads = 0;          // key/value heads (GQA); divides n_heads
  int head_dim = 0;            // per-head width; n_embd / n_heads unless given
  int vocab_size = 0;          // rows of token_embd
  int context_length = 0;      // trained context in tokens
  float rms_eps = 1e-5f;       // RMSNorm epsilon
  float rope_theta = 10000.f;  // RoPE base frequency
  int rope_dim = 0;            // rotated dims per head; 0 = head_dim
  // true: rotate adjacent pairs (x[2i], x[2i+1]) as GGUF's llama layout stores Q/K;
  // false: rotate halves (x[i], x[i + d/2]) as Hugging Face checkpoints do.
  bool rope_interleaved = true;
  // Llama-3 style frequency scaling; factor 0 = none.
  float rope_scale_factor = 0.f;
  float rope_low_freq_factor = 1.f;
  float rope_high_freq_factor = 4.f;
  int rope_original_context = 0;
  bool tied_embeddings = false;  // true when there is no output.weight: the head reuses token_embd
  // Linear RoPE scaling (positions divided by the factor); 1 = none. HF rope_scaling
  // {"rope_type": "linear", "factor"}; GGUF "{arch}.rope.scaling.type" = "linear" + ".factor".
  float rope_linear_factor = 1.f;
  // Sliding-window attention: on windowed layers a query sees its last `sliding_window` keys
  // (itself included); 0 = no window. HF "sliding_window" (Mistral: when not null; Qwen2/Qwen3:
  // only when "use_sliding_window" is true, which their released configs leave false);
  // GGUF "{arch}.attention.sliding_window".
  int sliding_window = 0;
  // Which layers are windowed when sliding_window > 0: 0 = all (Mistral); N > 0 = all but every
  // N-th (layer l is global when (l + 1) % N == 0; Gemma 3: 6). HF "sliding_window_pattern", or
  // the period of "layer_types"; GGUF has no key: per-architecture default (gemma3: 6).
  int sliding_window_period = 0;
  // RoPE base of the windowed layers, which then use no rope scaling; 0 = same RoPE as the
  // global layers. HF "rope_local_base_freq"; GGUF "{arch}.rope.freq_base_swa" (gemma3 default
  // 10000 when absent, as llama.cpp assumes).
  float rope_theta_swa = 0.f;
  // Attention score scale; 0 = 1/sqrt(head_dim). HF query_pre_attn_scalar^-0.5 (Gemma);
  // GGUF "{arch}.attention.scale".
  float attn_scale = 0.f;
  // Added to every RMSNorm weight (including QK-norms) before use. Gemma's HF checkpoints store
  // w and multiply by (1 + w): 1 there; llama.cpp's GGUF converter already adds 1: 0 for GGUF.
  float norm_weight_offset = 0.f;
  // Final logits = cap * tanh(logits / cap); 0 = none. HF "final_logit_softcapping";
  // GGUF "{arch}.final_logit_softcapping".
  float final_logit_softcap = 0.f;
  // Mixture of experts (docs/MOE.md); n_expert 0 = dense feed-forward. Every layer is MoE
  // when n_expert > 0. HF num_local_experts / num_experts; GGUF "{arch}.expert_count".
  int n_expert = 0;
  int n_expert_used = 0;  // experts per token (top-k); HF num_experts_per_tok, GGUF "{arch}.expert_used_count"
  // Hidden width of each routed expert. HF intermediate_size (Mixtral) or moe_intermediate_size;
  // GGUF "{arch}.expert_feed_forward_length", else "{arch}.feed_forward_length".
  int n_ff_expert = 0;
  // Hidden width of the shared expert run on every token (Qwen2-MoE); 0 = none. HF
  // shared_expert_intermediate_size; GGUF "{arch}.expert_shared_feed_forward_length".
  int n_ff_shared = 0;
  // true: the top-k probabilities are renormalized to sum 1 (Mixtral; Qwen norm_topk_prob);
  // false: used as the softmax over all experts gave them.
  bool expert_weights_norm = false;

  // Whether layer l uses the sliding window.
  bool IsSlidingLayer(int l) const {
    return sliding_window > 0 && (sliding_window_period == 0 || (l + 1) % sliding_window_period != 0);
  }
};

// Tokenizer data as stored by the model (GGUF metadata or tokenizer.json).
struct TokenizerSpec {
  enum class Kind { kNone, kBpe, kSpm };  // kBpe: byte-level BPE ("gpt2"); kSpm: SentencePiece ("llama")
  // Token attribute values as in GGUF tokenizer.ggml.token_type.
  enum TokenType : int32_t {
    kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6
  };
  Kind kind = Kind::kNone;
  std::string pre;                  // pre-tokenizer name ("smollm", "llama-bpe", "default", ...)
  std::vector<std::string> tokens;  // id -> token text (byte-level BPE: GPT-2 byte-to-unicode form)
  std::vector<float> scores;        // SPM piece scores (empty for BPE)
  std::vector<int32_t> types;       // TokenType per id (empty = all normal)
  std::vector<std::string> merges;  // BPE merges "a b", highest priority first
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1;  // -1 = absent
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: prepend "▁" to the first word
  std::string chat_template;      // Jinja source; "" = none

  // ---- Hugging Face tokenizer.json pipeline (formats/hf_tokenizer.h). The defaults give the
  // GGUF behaviour above, so a GGUF reader never sets these. ----
  // GPT-2's pre-tokenizer regex (ByteLevel with use_regex, GGUF pre "gpt2"/"default").
  static constexpr const char* kGpt2Pattern =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  // The `pre` value meaning "exactly the splits in pre_splits (possibly none)".
  static constexpr const char* kPreFromSplits = "tokenizer.json";
  // kBpe: true = the vocabulary is written in GPT-2's byte-to-unicode alphabet (GGUF "gpt2",
  // ByteLevel); false = pieces are Unicode text with "▁" for spaces (Llama 2, Mistral, Gemma
  // tokenizer.json): a word starts as one symbol per character, and a character the vocabulary
  // lacks becomes its <0xXX> byte tokens when byte_fallback, else unk_id (dropped without one).
  bool byte_level = true;
  bool byte_fallback = false;
  // kBpe: a pre-tokenized word that is itself a vocabulary entry becomes that one token without
  // merging (tokenizer.json "ignore_merges", e.g. Llama 3.1).
  bool ignore_merges = false;
  // Normalizer steps, applied in order to each text segment between added tokens.
  struct NormalizerStep {
    enum class Type { kNfc, kPrepend, kReplace };
    Type type = Type::kNfc;
    std::string pattern;  // kReplace: the literal text replaced (every occurrence)
    std::string content;  // kPrepend: put in front of a non-empty segment; kReplace: replacement
  };
  std::vector<NormalizerStep> normalizer;
  // Metaspace pre-tokenizer (after the normalizer): spaces become "▁", then "▁" is put in front
  // of the segment unless it already starts with one: kAlways for every segment, kFirst only
  // for a segment at the start of the input, kNever not at all. kNone = no Metaspace step.
  enum class Metaspace { kNone, kNever, kFirst, kAlways };
  Metaspace metaspace = Metaspace::kNone;
  bool metaspace_split = false;  // Metaspace also splits before each "▁"
  // Regex splits (PCRE2 syntax), applied in order after Metaspace when pre == kPreFromSplits.
  struct PreSplit {
    // What happens to each match: its own piece; glued to the text before it / after it; dropped.
    enum class Behavior { kIsolated, kMergedWithPrevious, kMergedWithNext, kRemoved };
    std::string regex;
    Behavior behavior = Behavior::kIsolated;
  };
  std::vector<PreSplit> pre_splits;
  // tokenizer.json's added tokens with their flags. Each is also in `tokens` (type kControl when
  // special, else kUserDefined). lstrip/rstrip: the token also takes the whitespace on its
  // left/right. normalized: tokenizer.json matches it on normalized text (recorded; we match
  // every added token on the raw text, which is the same for the vocabularies we read).
  struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = false, lstrip = false, rstrip = false, normalized = false;
  };
  std::vector<AddedToken> added_tokens;
};

struct TensorInfo {
  std::string name;     // canonical name
  DType dtype = DType::kF32;
  Shape shape;          // outermost first
  int file = 0;         // index into ModelIndex::files
  uint64_t offset = 0;  // absolute byte offset in that file
  uint64_t bytes = 0;   // RowBytes(dtype, cols) * rows
  // MLX dtypes only: canonical names of the companion tensors (".scales" / ".biases" next to
  // ".weight", same layer, shape [rows, cols / group_size]) and the group size; "" and 0 else.
  std::string scales;
  std::string biases;
  int group_size = 0;
};

struct ModelIndex {
  std::string format;               // "gguf", "safetensors", "mlx"
  std::vector<std::string> files;   // paths of the weight files
  ModelConfig config;
  TokenizerSpec tokenizer;
  std::vector<TensorInfo> tensors;  // in file order
  // Printable metadata for `inspect` (key -> value rendered as text, arrays summarized).
  std::map<std::string, std::string> metadata;

  const TensorInfo* Find(const std::string& name) const;
};

}  // namespace flashstream
