// Session: one loaded model and its conversation state (KV cache, token history, statistics),
// driven the same way by the CLI, the server and Python. Owns the thread pool, backend, weight
// store, model and tokenizer; with --device cuda the backend, the store and the KV cache are
// the GPU's. Not thread-safe: one Generate() at a time; `cancel` may be set
// from another thread (or a signal handler) to stop the current generation.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/run_stats.h"
#include "flashstream/options.h"
#include "kv/kv_cache.h"
#include "models/decoder.h"
#include "store/expert_cache.h"
#include "store/residency_planner.h"
#include "store/weight_store.h"
#include "tokenizer/tokenizer.h"

namespace flashstream {

// A saved conversation state (Session::Save). Owns its copy; plain data otherwise.
struct SessionCheckpoint {
  std::vector<int32_t> history;
  std::unique_ptr<KvCache> kv;
};
class DraftPolicy;
class ModelDrafter;
class NgramDrafter;
class SelfDraftStore;

// Receives each piece of generated text (always complete UTF-8).
using PieceFn = std::function<void(std::string_view piece)>;

class Session {
 public:
  static Result<std::unique_ptr<Session>> Open(const EngineOptions& options, const ProgressFn& progress);
  ~Session();

  const ModelIndex& index() const { return store_->index(); }
  // False for a model folder without a readable tokenizer: Evaluate/Append on ids still work,
  // Generate fails and tokenizer() must not be called.
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const EngineOptions& options() const { return options_; }
  double load_seconds() const { return load_seconds_; }
  const ResidencyPlan& plan() const { return plan_; }
  const WeightStore& store() const { return *store_; }
  // The forward pass (chunk size, activation and routing hooks); valid while the session lives.
  DecoderModel& model() { return *model_; }
  // The routed-expert cache of an MoE model streamed under --ram (docs/MOE.md); nullptr else.
  const ExpertCache* expert_cache() const { return experts_.get(); }
  std::string backend_name() const { return backend_->Name(); }
  // --self-draft: whether the low-bit copy was read from the disk cache (false: built, or none).
  bool self_draft_from_cache() const;  // "cpu-avx512", "cpu-avx512-int8", "cuda", ...

  // Generates a continuation of `prompt` (the whole conversation so far as tokens). K/V of the
  // longest prefix shared with the previous call are reused. The sampled ids (end-of-generation
  // included) are appended to `generated` when given.
  Result<RunStats> Generate(std::span<const int32_t> prompt, const GenerateOptions& options, const PieceFn& on_piece,
                            const std::atomic<bool>* cancel = nullptr, std::vector<int32_t>* generated = nullptr);
  // Logits at every position of `tokens` run from an empty cache: [n, vocab]. Resets the session.
  Status Evaluate(std::span<const int32_t> tokens, std::vector<float>* logits);
  // Runs tokens after the cached history; logits of the last one ([vocab]), or of every one
  // ([n, vocab]) when all_logits.
  Status Append(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits);
  int n_past() const { return static_cast<int>(history_.size()); }
  const KvCache& kv_cache() const { return *kv_; }
  // Reports (tokens done, tokens in the call) after each chunk of a long prompt.
  void set_prefill_progress(const ProgressFn& fn);
  // A deep copy of the conversation (tokens and KV cache), to resume from later with Restore().
  // Fails when KV blocks are on disk.
  Result<std::unique_ptr<SessionCheckpoint>> Save() const;
  void Restore(const SessionCheckpoint& checkpoint);
  const std::vector<int32_t>& history() const { return history_; }  // tokens whose K/V are cached
  // Context length in tokens: the prompt and the generated tokens together stay below it.
  int context_length() const { return kv_->max_positions(); }
  // Forgets the conversation.
  void Reset();
  // Forgets all but the first n_keep tokens of the conversation (n_keep <= n_past()). Errors:
  // the KV cache could not cut there exactly and recomputing the rest failed (spill I/O).
  Status Rewind(int n_keep);
  // Writes the per-layer I/O and compute timeline (EngineOptions::trace_path) as CSV.
  Status WriteTrace(const std::string& path) const;

 private:
  Session() = default;
  // Cuts the KV cache to history_[0, n), recomputing what it cannot keep exactly.
  Status CutKv(int n);
  // Drafts at most `room` tokens to follow `next` (not yet in the cache): by lookup when
  // `ngrams` is given and finds some, else by the draft model or the self-draft copy; the
  // policy cuts the draft to the length that pays.
  Status Draft(int32_t next, int room, const NgramDrafter* ngrams, DraftPolicy& policy, std::vector<int32_t>* draft);
  // Builds (or reads from its cache) the --self-draft copy of the layers plan_ streams, reading
  // them through `host` (a store of host memory); notes and skips it when nothing streams.
  Status OpenSelfDraft(const EngineOptions& options, WeightStore& host, ThreadPool& pool, const ProgressFn& progress);
  // k greedy tokens after `next` from the self-draft copy; the cache is left as it was.
  Status SelfDraft(int32_t next, int k, std::vector<int32_t>* draft);

  EngineOptions options_;
  double load_seconds_ = 0;
  ResidencyPlan plan_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<WeightStore> store_;
  std::unique_ptr<ExpertCache> experts_;  // MoE under --ram: routed experts (the model borrows it)
  std::unique_ptr<DecoderModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<KvCache> kv_;                 // declared after backend_: a GPU cache frees through it
  std::unique_ptr<ModelDrafter> drafter_;       // --draft-model, or null
  std::unique_ptr<SelfDraftStore> self_draft_;  // --self-draft: low-bit copy of the streamed layers, or null
  std::vector<int32_t> history_;                // tokens whose K/V are in kv_
  std::vector<float> logits_;                   // [vocab] (or [n, vocab] in Evaluate)
  std::vector<float> draft_logits_;             // [vocab] of the last self-draft pass
};

}  // namespace flashstream
