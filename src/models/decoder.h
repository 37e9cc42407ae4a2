// DecoderModel: the one forward pass shared by every decoder-only architecture; an
// architecture's ArchFeatures switch its optional parts (biases, QK-norm, post-norms, GELU
// gate, embedding scale) and the ModelConfig gives the per-layer attention choices (sliding
// windows and their RoPE base, attention scale, logit soft-cap). Holds the validated
// configuration and reusable activation scratch in the backend's memory (device memory on a GPU:
// only the logits come back to the host, once per pass); weights come from a WeightStore on
// every pass, layer by layer. Not thread-safe: one forward pass at a time.
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
#include "models/moe_block.h"
#include "store/weight_store.h"

namespace flashstream {

// Observes named intermediates ("inp_embd", "attn_norm", "q", "k", "attn", "attn_out",
// "ffn_norm", "ffn_out", "l_out", "result_norm", ...) of shape [n_tok, width]; layer is -1
// outside the blocks. `data` is host memory (copied from the device when the backend's is not).
using ActivationHook =
    std::function<void(std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width)>;

class DecoderModel {
 public:
  // Checks that the index has every tensor the architecture needs with the right dtype and
  // shape; errors name the tensor and expected vs actual.
  static Result<std::unique_ptr<DecoderModel>> Create(const ModelIndex& index);

  const ModelConfig& config() const { return config_; }
  const ArchFeatures& features() const { return features_; }

  // Runs tokens[n_tok] at positions kv.n_past().. and appends their K/V to kv, which must keep
  // them in `backend`'s memory. logits (host memory): [n_tok, vocab] when all_logits, else
  // [1, vocab] for the last token. Processes long inputs in chunks of at most max_chunk tokens
  // (each streamed layer is read once per chunk). Fails when the backend is out of memory.
  Status Forward(std::span<const int32_t> tokens, bool all_logits, WeightStore& store, Backend& backend, KvCache& kv,
                 std::vector<float>* logits);

  void set_hook(ActivationHook hook) { hook_ = std::move(hook); }
  void set_max_chunk(int n) { max_chunk_ = n; }
  // Called with (tokens done, tokens in the call) before the first chunk of a Forward() longer
  // than one chunk and after each chunk, for progress.
  void set_progress(std::function<void(int64_t done, int64_t total)> fn) { progress_ = std::move(fn); }
  // The mixture-of-experts block (nullptr for dense models).
  MoeBlock* moe() { return moe_.get(); }

 private:
  DecoderModel(const ModelConfig& config, ArchFeatures features);
  Status ForwardChunk(std::span<const int32_t> tokens, bool all_logits, WeightStore& store, Backend& backend,
                      KvCache& kv, float* logits);
  // Embedding, layers and (out != nullptr) the output head of one chunk, without advancing kv;
  // out [rows, vocab] in the backend's memory.
  Status Pass(int64_t n, int64_t rows, WeightStore& store, Backend& backend, KvCache& kv, float* out);
  // A one-token decode step as a replayed recording (Backend::BeginStepRecording) when the
  // backend records, the weights are resident and the KV cache is a BackendKvCache: true when
  // the step ran that way (logits in logits_), false when the caller must run Pass.
  bool RecordedStep(int64_t n, int64_t rows, WeightStore& store, Backend& backend, KvCache& kv);
  // Sizes the scratch for chunks of n tokens in the backend's memory.
  Status ReserveScratch(Backend& backend, int64_t n, int64_t logit_rows);
  // The blocks of one chunk of n tokens; each reads x_ and leaves its result in x_.
  void Embed(int64_t n, WeightStore& store, Backend& backend);
  Status AttentionBlock(int l, const LayerWeights& w, int64_t n, Backend& backend, KvCache& kv);
  Status FeedForwardBlock(int l, const LayerWeights& w, int64_t n, Backend& backend);
  // logits [rows, vocab] in the backend's memory.
  void OutputHead(int64_t n, int64_t rows, WeightStore& store, Backend& backend, float* logits);
  // out[n_tok, width] = RmsNorm(x) with the model's eps and weight offset.
  void Norm(Backend& backend, const float* x, const TensorView& weight, int64_t n_tok, int64_t width, float* out) const;
  // x[n, width] += bias[width] on every row; a bias not in f32 is widened into bias_ first.
  void AddBias(Backend& backend, float* x, const TensorView& bias, int64_t n, int64_t width);
  // Calls the hook (if any) with `data` [n_tok, width] of backend memory.
  void Emit(Backend& backend, std::string_view name, int layer, const float* data, int64_t n_tok, int64_t width);

  ModelConfig config_;
  ArchFeatures features_;
  RopeParams rope_;      // global layers
  RopeParams rope_swa_;  // sliding-window layers (== rope_ unless config.rope_theta_swa > 0)
  float attn_scale_ = 1.f;
  ActivationHook hook_;
  std::function<void(int64_t, int64_t)> progress_;
  std::unique_ptr<MoeBlock> moe_;  // set when config.n_expert > 0
  int max_chunk_ = 512;
  // Scratch in the backend's memory, grown to the largest chunk of n tokens seen.
  BackendArray<float> x_;          // [n, n_embd] residual stream
  BackendArray<float> xb_;         // [n, n_embd] normed input / projection output
  BackendArray<float> q_;          // [n, n_heads * head_dim]
  BackendArray<float> k_;          // [n, n_kv_heads * head_dim]
  BackendArray<float> v_;          // [n, n_kv_heads * head_dim]
  BackendArray<float> att_;        // [n, n_heads * head_dim]
  BackendArray<float> gate_;       // [n, n_ff]
  BackendArray<float> up_;         // [n, n_ff]
  BackendArray<float> bias_;       // [n_heads * head_dim] an f16/bf16 attention bias widened to f32
  BackendArray<float> logits_;     // [rows, vocab] when the backend's memory is not the host's
  BackendArray<int32_t> ids_;      // [n] token ids
  BackendArray<int32_t> pos_;      // [n] positions
  std::vector<int32_t> host_pos_;  // [n] positions before upload
  std::vector<float> hook_copy_;   // [n_tok, width] an intermediate copied for the hook
  // Recorded decode steps: the key of what the last one-token step baked in, and how far it got.
  enum class StepState { kFirst, kWarm, kRecorded, kFailed };
  uint64_t step_key_ = 0;
  StepState step_state_ = StepState::kFirst;
};

}  // namespace flashstream
