// DecoderModel: the one forward pass shared by every decoder-only architecture; an
// architecture's ArchFeatures switch its optional parts (biases, QK-norm, post-norms, GELU
// gate, embedding scale) and the ModelConfig gives the per-layer attention choices (sliding
// windows and their RoPE base, attention scale, logit soft-cap). Holds the validated
// configuration and reusable activation scratch; weights come from a WeightStore on every pass,
// layer by layer. Not thread-safe: one forward pass at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "kv/kv_cache.h"
#include "models/arch.h"
#include "store/weight_store.h"

namespace flashstream {

// Observes named intermediates ("inp_embd", "attn_norm", "q", "k", "attn", "attn_out",
// "ffn_norm", "ffn_out", "l_out", "result_norm", ...) of shape [n_tok, width]; layer is -1
// outside the blocks.
using ActivationHook =
    std::function<void(std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width)>;

class DecoderModel {
 public:
  // Checks that the index has every tensor the architecture needs with the right dtype and
  // shape; errors name the tensor and expected vs actual.
  static Result<std::unique_ptr<DecoderModel>> Create(const ModelIndex& index);

  const ModelConfig& config() const { return config_; }
  const ArchFeatures& features() const { return features_; }

  // Runs tokens[n_tok] at positions kv.n_past().. and appends their K/V to kv.
  // logits: [n_tok, vocab] when all_logits, else [1, vocab] for the last token.
  // Processes long inputs in chunks of at most max_chunk tokens (each streamed layer is read
  // once per chunk).
  Status Forward(std::span<const int32_t> tokens, bool all_logits, WeightStore& store,
                 Backend& backend, KvCache& kv, std::vector<float>* logits);

  void set_hook(ActivationHook hook) { hook_ = std::move(hook); }
  void set_max_chunk(int n) { max_chunk_ = n; }
  // Called with (tokens done, tokens in the call) before the first chunk of a Forward() longer
  // than one chunk and after each chunk, for progress.
  void set_progress(std::function<void(int64_t done, int64_t total)> fn) { progress_ = std::move(fn); }

 private:
  DecoderModel(const ModelConfig& config, ArchFeatures features);
  Status ForwardChunk(std::span<const int32_t> tokens, bool all_logits, WeightStore& store,
                      Backend& backend, KvCache& kv, float* logits);
  // The blocks of one chunk of n tokens; each reads x_ and leaves its result in x_.
  void Embed(std::span<const int32_t> tokens, WeightStore& store, Backend& backend);
  Status AttentionBlock(int l, const LayerWeights& w, int64_t n, Backend& backend, KvCache& kv);
  void FeedForwardBlock(int l, const LayerWeights& w, int64_t n, Backend& backend);
  void OutputHead(int64_t n, int64_t rows, WeightStore& store, Backend& backend, float* logits);
  // out[n_tok, width] = RmsNorm(x) with the model's eps and weight offset.
  void Norm(Backend& backend, const float* x, const TensorView& weight, int64_t n_tok, int64_t width,
            float* out) const;
  // x[n, width] += bias[width] on every row.
  static void AddBias(Backend& backend, float* x, const TensorView& bias, int64_t n, int64_t width);
  void Emit(std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width) const {
    if (hook_) hook_(name, layer, data, n_tok, width);
  }

  ModelConfig config_;
  ArchFeatures features_;
  RopeParams rope_;      // global layers
  RopeParams rope_swa_;  // sliding-window layers (== rope_ unless config.rope_theta_swa > 0)
  float attn_scale_ = 1.f;
  ActivationHook hook_;
  std::function<void(int64_t, int64_t)> progress_;
  int max_chunk_ = 512;
  // Scratch, resized per chunk of n tokens.
  std::vector<float> x_;     // [n, n_embd] residual stream
  std::vector<float> xb_;    // [n, n_embd] normed input / projection output
  std::vector<float> q_;     // [n, n_heads * head_dim]
  std::vector<float> k_;     // [n, n_kv_heads * head_dim]
  std::vector<float> v_;     // [n, n_kv_heads * head_dim]
  std::vector<float> att_;   // [n, n_heads * head_dim]
  std::vector<float> gate_;  // [n, n_ff]
  std::vector<float> up_;    // [n, n_ff]
  std::vector<int32_t> pos_; // [n]
};

}  // namespace flashstream
