// ConfigFromGguf: architecture hyperparameters from `{arch}.*` metadata keys.
#include <string_view>

#include "formats/gguf_keys.h"   // typed, range-checked key lookups
#include "formats/gguf_model.h"  // ConfigFromGguf

namespace flashstream {
namespace {

using gguf_keys::Presence;

// Architectures this reader accepts and the per-architecture facts the keys do not carry.
// Adding an architecture whose tensors follow the canonical names is one row.
struct ArchRow {
  std::string_view name;
  bool rope_interleaved;      // GGUF stores Q/K rows permuted for adjacent-pair rotation
  int sliding_window_period;  // ModelConfig::sliding_window_period (no GGUF key carries it)
  float rope_theta_swa;       // default of "{arch}.rope.freq_base_swa" (0 = same as global)
  bool expert_weights_norm;   // MoE: top-k renormalized (llama.cpp's per-architecture choice)
};
constexpr ArchRow kArchs[] = {
    {"llama", true, 0, 0.f, true},  // Mixtral is "llama" with "llama.expert_count"
    {"mistral", true, 0, 0.f, true},
    {"qwen2", false, 0, 0.f, false},
    {"qwen3", false, 0, 0.f, false},
    // llama.cpp's converter adds 1 to Gemma's norm weights, so norm_weight_offset stays 0.
    {"gemma3", false, 6, 10000.f, false},
    {"qwen2moe", false, 0, 0.f, false},
    {"qwen3moe", false, 0, 0.f, true},
};

// Upper bounds that catch corrupt or hostile metadata; generous for real models.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxEmbd = 65536 * 4;
constexpr int64_t kMaxFf = 1 << 20;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxContext = 1 << 24;
constexpr int64_t kMaxExperts = 1024;

// Mixture-of-experts keys; absent expert_count = dense.
Status ReadExperts(const GgufFile& f, const std::string& a, bool norm_default, ModelConfig* c) {
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, a + ".expert_count", 0, kMaxExperts, Presence::kOptional, &c->n_expert));
  if (c->n_expert == 0) return Status::Ok();
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, a + ".expert_used_count", 1, c->n_expert, Presence::kRequired, &c->n_expert_used));
  c->n_ff_expert = c->n_ff;
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, a + ".expert_feed_forward_length", 1, kMaxFf, Presence::kOptional, &c->n_ff_expert));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, a + ".expert_shared_feed_forward_length", 0, kMaxFf, Presence::kOptional, &c->n_ff_shared));
  c->expert_weights_norm = norm_default;
  return gguf_keys::GetBool(f, a + ".expert_weights_norm", &c->expert_weights_norm);
}

Status ReadRopeScaling(const GgufFile& f, const std::string& arch, ModelConfig* c) {
  const std::string prefix = arch + ".rope.scaling.";
  std::string type;
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, prefix + "type", Presence::kOptional, &type));
  float factor = 0.f;
  FS_RETURN_IF_ERROR(gguf_keys::GetFloat(f, prefix + "factor", 0.0, 1e6, Presence::kOptional, &factor));
  if (type.empty()) type = f.Find(prefix + "factor") ? "linear" : "none";  // llama.cpp's default
  if (type == "none") return Status::Ok();
  if (type == "linear") {
    if (factor == 0.f) return Status::Ok();  // no scaling
    if (factor < 1e-6f) return Errorf("{}: key '{}factor' is {}, expected a positive factor", f.path, prefix, factor);
    c->rope_linear_factor = factor;
    return Status::Ok();
  }
  if (type != "llama3") {
    return Errorf("{}: key '{}type' is '{}', which is not supported (supported: none, linear, llama3)", f.path, prefix,
                  type);
  }
  FS_RETURN_IF_ERROR(gguf_keys::GetFloat(f, prefix + "factor", 1.0, 1e6, Presence::kRequired, &c->rope_scale_factor));
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, prefix + "original_context_length", 1, kMaxContext, Presence::kRequired,
                                       &c->rope_original_context));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetFloat(f, prefix + "low_freq_factor", 1e-6, 1e6, Presence::kOptional, &c->rope_low_freq_factor));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetFloat(f, prefix + "high_freq_factor", 1e-6, 1e6, Presence::kOptional, &c->rope_high_freq_factor));
  if (c->rope_high_freq_factor <= c->rope_low_freq_factor) {
    return Errorf("{}: key '{}high_freq_factor' is {}, expected more than low_freq_factor {}", f.path, prefix,
                  c->rope_high_freq_factor, c->rope_low_freq_factor);
  }
  return Status::Ok();
}

Status ReadAttention(const GgufFile& f, const std::string& arch, ModelConfig* c) {
  const std::string attn = arch + ".attention.";
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, attn + "head_count", 1, kMaxHeads, Presence::kRequired, &c->n_heads));
  c->n_kv_heads = c->n_heads;
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, attn + "head_count_kv", 1, c->n_heads, Presence::kOptional, &c->n_kv_heads));
  if (c->n_heads % c->n_kv_heads != 0) {
    return Errorf("{}: key '{}head_count_kv' is {}, which does not divide head_count {}", f.path, attn, c->n_kv_heads,
                  c->n_heads);
  }
  if (f.Find(attn + "key_length")) {
    FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, attn + "key_length", 1, kMaxHeadDim, Presence::kRequired, &c->head_dim));
  } else if (c->n_embd % c->n_heads != 0) {
    return Errorf(
        "{}: key '{}head_count' is {}, which does not divide embedding_length {} (and '{}key_length' is absent)",
        f.path, attn, c->n_heads, c->n_embd, attn);
  } else {
    c->head_dim = c->n_embd / c->n_heads;
  }
  int value_length = c->head_dim;
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, attn + "value_length", 1, kMaxHeadDim, Presence::kOptional, &value_length));
  if (value_length != c->head_dim) {
    return Errorf("{}: key '{}value_length' is {}, expected key_length {}", f.path, attn, value_length, c->head_dim);
  }
  FS_RETURN_IF_ERROR(gguf_keys::GetFloat(f, attn + "scale", 1e-6, 1e6, Presence::kOptional, &c->attn_scale));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, attn + "sliding_window", 0, kMaxContext, Presence::kOptional, &c->sliding_window));
  return gguf_keys::GetFloat(f, attn + "layer_norm_rms_epsilon", 1e-12, 0.1, Presence::kOptional, &c->rms_eps);
}

}  // namespace

Result<ModelConfig> ConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, "general.architecture", Presence::kRequired, &c.arch));
  const ArchRow* row = nullptr;
  std::string supported;
  for (const ArchRow& a : kArchs) {
    if (a.name == c.arch) row = &a;
    supported += supported.empty() ? std::string(a.name) : ", " + std::string(a.name);
  }
  if (row == nullptr) {
    return Errorf("{}: key 'general.architecture' is '{}', which is not supported (supported: {})", f.path, c.arch,
                  supported);
  }
  c.rope_interleaved = row->rope_interleaved;
  c.sliding_window_period = row->sliding_window_period;
  c.rope_theta_swa = row->rope_theta_swa;
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, "general.name", Presence::kOptional, &c.name));

  const std::string& a = c.arch;
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, a + ".block_count", 1, kMaxLayers, Presence::kRequired, &c.n_layers));
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, a + ".embedding_length", 1, kMaxEmbd, Presence::kRequired, &c.n_embd));
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, a + ".feed_forward_length", 1, kMaxFf, Presence::kRequired, &c.n_ff));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, a + ".context_length", 1, kMaxContext, Presence::kRequired, &c.context_length));
  FS_RETURN_IF_ERROR(ReadAttention(f, a, &c));
  FS_RETURN_IF_ERROR(ReadExperts(f, a, row->expert_weights_norm, &c));

  FS_RETURN_IF_ERROR(gguf_keys::GetFloat(f, a + ".rope.freq_base", 1.0, 1e12, Presence::kOptional, &c.rope_theta));
  c.rope_dim = c.head_dim;
  FS_RETURN_IF_ERROR(
      gguf_keys::GetInt(f, a + ".rope.dimension_count", 2, c.head_dim, Presence::kOptional, &c.rope_dim));
  if (c.rope_dim % 2 != 0) {
    return Errorf("{}: key '{}.rope.dimension_count' is {}, expected an even number", f.path, a, c.rope_dim);
  }
  FS_RETURN_IF_ERROR(ReadRopeScaling(f, a, &c));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetFloat(f, a + ".rope.freq_base_swa", 1.0, 1e12, Presence::kOptional, &c.rope_theta_swa));
  FS_RETURN_IF_ERROR(
      gguf_keys::GetFloat(f, a + ".final_logit_softcapping", 1e-3, 1e6, Presence::kOptional, &c.final_logit_softcap));

  if (f.Find(a + ".vocab_size")) {
    FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, a + ".vocab_size", 1, kMaxVocab, Presence::kRequired, &c.vocab_size));
  } else if (const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
             tokens && tokens->type == GgufType::kArray && tokens->count >= 1 && tokens->count <= kMaxVocab) {
    c.vocab_size = static_cast<int>(tokens->count);
  } else {
    return Errorf(
        "{}: no vocabulary size: key '{}.vocab_size' is absent and 'tokenizer.ggml.tokens' is not an array of 1..{} "
        "strings",
        f.path, a, kMaxVocab);
  }
  c.tied_embeddings = true;
  for (const GgufTensorInfo& t : f.tensors) {
    if (t.name == "output.weight") c.tied_embeddings = false;
  }
  return c;
}

}  // namespace flashstream
