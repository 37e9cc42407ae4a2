// DecoderModel: the one forward pass shared by every decoder-only architecture; an
// architecture's ArchFeatures switch its optional parts. Holds the validated configuration and
// reusable activation scratch; weights come from a WeightStore on every pass, layer by layer.
// Not thread-safe: one forward pass at a time.
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

// Observes named intermediates ("attn_norm", "q", "attn_out", "ffn_out", "l_out", "result_norm",
// ...) of shape [n_tok, width]; layer is -1 outside the blocks.
using ActivationHook =
    std::function<void(std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width)>;

class DecoderModel {
 public:
  // Checks that the index has every tensor the architecture needs with the right dtype and
  // shape; errors name the tensor and expected vs actual.
  static Result<std::unique_ptr<DecoderModel>> Create(const ModelIndex& index);

  const ModelConfig& config() const { return config_; }

  // Runs tokens[n_tok] at positions kv.n_past().. and appends their K/V to kv.
  // logits: [n_tok, vocab] when all_logits, else [1, vocab] for the last token.
  // Processes long inputs in chunks of at most max_chunk tokens (each streamed layer is read
  // once per chunk).
  Status Forward(std::span<const int32_t> tokens, bool all_logits, WeightStore& store,
                 Backend& backend, KvCache& kv, std::vector<float>* logits);

  void set_hook(ActivationHook hook) { hook_ = std::move(hook); }
  void set_max_chunk(int n) { max_chunk_ = n; }

 private:
  DecoderModel(const ModelConfig& config, ArchFeatures features);
  Status ForwardChunk(std::span<const int32_t> tokens, bool all_logits, WeightStore& store,
                      Backend& backend, KvCache& kv, float* logits);
  void Emit(std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width) const {
    if (hook_) hook_(name, layer, data, n_tok, width);
  }

  ModelConfig config_;
  ArchFeatures features_;
  RopeParams rope_;
  ActivationHook hook_;
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
