// MoeBlock: the mixture-of-experts feed-forward that replaces the dense SwiGLU block when
// ModelConfig::n_expert > 0 (Mixtral, Qwen2-MoE, Qwen3-MoE). Per token: router logits
// [n_expert] = ffn_gate_inp · x, softmax over all experts, the n_expert_used largest
// probabilities (ties to the lower expert id), renormalized to sum 1 when
// ModelConfig::expert_weights_norm; out = Σ p_e · down_e(silu(gate_e x) * up_e x), plus, when
// the model has a shared expert, sigmoid(ffn_gate_inp_shexp · x) · shared(x).
//
// Prefill groups tokens by expert: each selected expert gathers the rows routed to it, runs one
// batched MatMul per matrix and scatter-adds the weighted result, so each expert's weights are
// used once per chunk. Per token the routed contributions are summed in ascending expert id,
// whatever the chunking, so the result does not depend on where the weights came from.
//
// Weights come per layer from the WeightStore under the canonical names of model_index.h:
// "ffn_gate_inp.weight" [n_expert, n_embd], "ffn_{gate,up}.{e}.weight" [n_ff_expert, n_embd],
// "ffn_down.{e}.weight" [n_embd, n_ff_expert], and for the shared expert
// "ffn_{gate,up}_shexp.weight" [n_ff_shared, n_embd], "ffn_down_shexp.weight"
// [n_embd, n_ff_shared], "ffn_gate_inp_shexp.weight" [n_embd] (or [1, n_embd]).
// With an expert source (an expert cache under --ram), after routing layer l the block tells the
// source the routed experts (Need), then, when the source has layer l+1's router, applies it to
// layer l's input to predict l+1's experts (lookahead routing) and hands the prediction to the
// source (Prefetch) so their reads overlap this layer's compute. After the last layer, when the
// source asks for it (PrefetchNextToken), layer 0's router on the last row's input predicts the
// next token's layer-0 experts (Prefetch(0, ...)). The prediction never decides:
// layer l+1 is routed on its own input, so outputs stay bitwise those of a resident run.
// Owns its scratch; not thread-safe (one forward pass at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "formats/model_index.h"
#include "store/expert_cache.h"
#include "store/weight_store.h"

namespace flashstream {

// Observes the routing of one layer: selected[n_tok, n_expert_used] expert ids, each token's
// ids in descending probability. Called before the experts run.
using RoutingHook = std::function<void(int layer, std::span<const int32_t> selected, int64_t n_tok)>;

class MoeBlock {
 public:
  // Checks layer l's router, experts and shared expert in `index` (presence, shape, dtype);
  // errors name the tensor with expected vs actual.
  static Status CheckLayer(const ModelIndex& index, int l);
  // Role (name without "blk.{l}.") of expert e's matrix: kind is "gate", "up" or "down".
  static std::string ExpertRole(const char* kind, int e);

  explicit MoeBlock(const ModelConfig& config);

  // out[n, n_embd] = MoE(in[n, n_embd]) for layer l; in is the normed residual; out may alias in.
  // Fails only when an expert source cannot read an expert.
  Status Forward(int l, const LayerWeights& w, const float* in, int64_t n, Backend& backend, float* out);

  void set_routing_hook(RoutingHook hook) { routing_hook_ = std::move(hook); }
  // Routed experts come from `source` (borrowed; must outlive the block) instead of the layer's
  // weights; nullptr = from the layer's weights.
  void set_expert_source(ExpertSource* source) { source_ = source; }

 private:
  // Fills selected[n, k] and weights[n, k] from router logits[n, n_expert] (turned into
  // probabilities in place).
  void Route(int64_t n, float* logits, std::vector<int32_t>& selected, std::vector<float>& weights) const;
  // The distinct experts in selected (ascending) into experts.
  void Distinct(const std::vector<int32_t>& selected, std::vector<int32_t>& experts) const;
  // Runs the SwiGLU expert (gate, up, down) on rows xe_[m, n_embd] into ye_[m, n_embd].
  void RunExpert(const TensorView& gate, const TensorView& up, const TensorView& down, int64_t m, int64_t ff,
                 Backend& backend);

  ModelConfig config_;
  RoutingHook routing_hook_;
  ExpertSource* source_ = nullptr;
  std::vector<float> in_;               // [n, n_embd] copy of the input (out may alias it)
  std::vector<float> logits_;           // [n, n_expert] router logits, then probabilities
  std::vector<int32_t> selected_;       // [n, n_expert_used] chosen expert ids
  std::vector<float> weights_;          // [n, n_expert_used] their mixing weights
  std::vector<int32_t> rows_;           // [m] token rows routed to the current expert
  std::vector<float> row_w_;            // [m] their weights
  std::vector<float> xe_;               // [m, n_embd] gathered inputs
  std::vector<float> ge_;               // [m, ff] gate projection, then the activation
  std::vector<float> ue_;               // [m, ff] up projection
  std::vector<float> ye_;               // [m, n_embd] expert output
  std::vector<float> sg_;               // [n] shared-expert gate logits
  std::vector<int32_t> used_;           // [<= n_expert] distinct routed experts, ascending
  std::vector<float> next_logits_;      // [n, n_expert] lookahead: layer l+1's router on layer l's input
  std::vector<int32_t> next_selected_;  // [n, n_expert_used] its top-k
  std::vector<float> next_weights_;     // [n, n_expert_used] (unused weights of the prediction)
  std::vector<int32_t> next_used_;      // predicted distinct experts, ascending
};

}  // namespace flashstream
