#include "engine/session.h"

#include <fmt/format.h>  // fmt::format for labels

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "core/check.h"
#include "core/clock.h"
#include "core/progress.h"
#include "engine/device_setup.h"
#include "engine/model_drafter.h"
#include "engine/ngram_drafter.h"
#include "engine/sampler.h"
#include "engine/self_draft.h"
#include "engine/self_draft_cache.h"
#include "engine/speculative.h"
#include "engine/stop_matcher.h"
#include "formats/expert_layout.h"  // MeasureExperts, WithoutRoutedExperts
#include "formats/model_reader.h"
#include "io/bandwidth_probe.h"
#include "io/system_memory.h"
#include "kv/backend_kv_cache.h"
#include "kv/kv_cache.h"
#include "store/streaming_store.h"
#include "tokenizer/detokenizer.h"

namespace flashstream {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Memory kept free for the KV cache, activations and the process itself when sizing an
// automatic budget.
constexpr uint64_t kAutoReserve = 512ull << 20;
// Prompt tokens per forward chunk on a GPU: large GEMMs keep the tensor cores busy.
constexpr int kGpuMaxChunk = 2048;

// Chooses the weight budget, measures the disk when streaming, opens the store and says on
// stderr what it decided.
Result<std::unique_ptr<WeightStore>> OpenStore(const ModelIndex& index, const EngineOptions& options,
                                               const ProgressFn& progress, ResidencyPlan* plan) {
  const LayerLayout layout = MeasureLayout(index);
  uint64_t weights = layout.global_bytes;
  for (uint64_t b : layout.layer_bytes) weights += b;
  StreamingOptions so;
  so.max_slots = std::max(2, options.prefetch_slots);
  so.io.queue_depth = std::max(1, options.io_queue_depth);
  so.io.chunk_bytes = static_cast<uint64_t>(std::max(4, options.io_chunk_kib)) * 1024;
  so.pacer = options.pacer;
  so.trace = !options.trace_path.empty();
  if (options.ram_gib > 0) {
    so.budget_bytes = static_cast<uint64_t>(options.ram_gib * kGiB);
  } else {
    const uint64_t usable = ReadMemoryLimits().usable();
    if (usable > 0 && weights + kAutoReserve > usable) {
      so.budget_bytes = usable > 2 * kAutoReserve ? usable - kAutoReserve : usable / 2;
      std::fprintf(stderr,
                   "flashstream: the model's %.2f GiB of weights exceed the %.2f GiB this process may use: "
                   "streaming within %.2f GiB (set --ram to choose)\n",
                   weights / kGiB, usable / kGiB, so.budget_bytes / kGiB);
    }
  }
  if (so.budget_bytes > 0 && so.budget_bytes < weights) {
    Result<double> gbps = ProbeReadGBps(index.files.front(), so.io, 512ull << 20);
    if (gbps.ok()) so.read_gbps = *gbps;
    if (options.self_draft_bits > 0) {
      PlanInput in;
      in.budget_bytes = so.budget_bytes;
      in.global_bytes = layout.global_bytes;
      in.layer_bytes = layout.layer_bytes;
      in.min_slots = so.min_slots;
      in.max_slots = so.max_slots;
      FS_ASSIGN_OR_RETURN(const uint64_t reserve, SelfDraftStore::Reserve(index, in, options.self_draft_bits));
      so.budget_bytes -= reserve;
      std::fprintf(stderr, "flashstream: self-draft: a %d-bit copy of the streamed layers takes %.2f GiB of --ram\n",
                   options.self_draft_bits, reserve / kGiB);
    }
  }
  Result<std::unique_ptr<WeightStore>> store = OpenStreamingStore(index, so, progress, plan);
  if (store.ok() && (plan->streams() || options.verbose)) {
    std::fprintf(stderr, "flashstream: %s\n", plan->Describe().c_str());
  }
  return store;
}

// An MoE model streams its routed experts through an expert cache when --ram is below its
// weights (MLX experts too: the cache reads their scales and biases with them).
bool UseExpertCache(const ModelIndex& index, const EngineOptions& options) {
  if (index.config.n_expert == 0 || options.ram_gib <= 0 || options.self_draft_bits > 0 || !options.expert_cache)
    return false;
  const LayerLayout layout = MeasureLayout(index);
  uint64_t weights = layout.global_bytes;
  for (uint64_t b : layout.layer_bytes) weights += b;
  return static_cast<uint64_t>(options.ram_gib * kGiB) < weights;
}

// Everything but the routed experts resident; the experts in a cache of the rest of --ram.
Status OpenExpertStore(const ModelIndex& index, const EngineOptions& options, const ProgressFn& progress,
                       std::unique_ptr<WeightStore>& store, std::unique_ptr<ExpertCache>& cache, ResidencyPlan* plan) {
  ExpertCacheOptions xo;
  xo.next_token = options.expert_next_token;
  if (!options.expert_policy.empty()) {
    FS_ASSIGN_OR_RETURN(xo.policy, ParseExpertPolicy(options.expert_policy));
  }
  const ModelIndex resident = WithoutRoutedExperts(index);
  const ExpertLayout x = MeasureExperts(index);
  const uint64_t budget = static_cast<uint64_t>(options.ram_gib * kGiB);
  const uint64_t slot = ExpertCache::SlotBytes(index);
  const TensorInfo* embd = index.Find("token_embd.weight");
  const uint64_t fixed = x.shared_bytes + (embd != nullptr ? embd->bytes : 0);
  if (budget < fixed + slot) {
    return Errorf(
        "--ram {:.4f} GiB is below the minimum for the expert cache: {:.1f} MiB of non-expert weights "
        "resident + one expert slot of {:.2f} MiB",
        options.ram_gib, fixed / 1048576.0, slot / 1048576.0);
  }
  StreamingOptions so;  // budget 0: all resident
  so.max_gap = 0;
  so.io.queue_depth = std::max(1, options.io_queue_depth);
  so.io.chunk_bytes = static_cast<uint64_t>(std::max(4, options.io_chunk_kib)) * 1024;
  FS_ASSIGN_OR_RETURN(store, OpenStreamingStore(resident, so, progress, plan));
  const uint64_t used = store->stats().resident_bytes;
  FS_ASSIGN_OR_RETURN(cache, ExpertCache::Open(index, budget > used ? budget - used : 0, so.io, xo));
  if (options.expert_lookahead) {
    std::vector<TensorView> routers;  // resident for the whole run
    for (int l = 0; l < index.config.n_layers; ++l) {
      FS_ASSIGN_OR_RETURN(const LayerWeights* w, store->Acquire(l));
      routers.push_back(w->Get("ffn_gate_inp.weight"));
      store->Release(l);
    }
    cache->set_routers(std::move(routers));
  }
  const ExpertCacheStats st = cache->stats();
  std::fprintf(stderr,
               "flashstream: expert cache: %.1f MiB non-expert weights resident, %d slots of %.2f MiB for %d x %d "
               "routed experts (%.0f%%), policy %s, lookahead routing %s, %d reads in flight\n",
               used / 1048576.0, st.slots, st.slot_bytes / 1048576.0, index.config.n_layers, index.config.n_expert,
               100.0 * st.slots / (index.config.n_layers * index.config.n_expert), Name(st.policy),
               options.expert_lookahead ? "on" : "off", st.io_threads);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Open(const EngineOptions& options, const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  FS_ASSIGN_OR_RETURN(ModelIndex index, ReadModel(options.model_path));
  if (!options.chat_template.empty()) index.tokenizer.chat_template = options.chat_template;
  FS_ASSIGN_OR_RETURN(s->model_, DecoderModel::Create(index));
  if (index.tokenizer.kind != TokenizerSpec::Kind::kNone) {
    FS_ASSIGN_OR_RETURN(s->tokenizer_, Tokenizer::Create(index.tokenizer));
  }
  const ModelConfig& c = s->model_->config();
  int ctx = options.ctx > 0 ? options.ctx : c.context_length;
  if (c.context_length > 0 && ctx > c.context_length) {
    if (options.ctx > 0 && options.verbose) {
      std::fprintf(stderr, "flashstream: --ctx %d is beyond the model's trained context of %d tokens: using %d\n",
                   options.ctx, c.context_length, c.context_length);
    }
    ctx = c.context_length;
  }
  if (ctx <= 0) ctx = 4096;  // a model that does not state its trained context
  const int kv_width = c.n_kv_heads * c.head_dim;
  FS_ASSIGN_OR_RETURN(const int gpu, ParseDevice(options.device));
  const int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  KvConfig kc;
  kc.n_layers = c.n_layers;
  kc.n_kv_heads = c.n_kv_heads;
  kc.head_dim = c.head_dim;
  kc.max_positions = ctx;
  kc.quant_bits = options.kv_quant;
  kc.window = options.kv_window;
  kc.f32 = options.kv_f32;
  kc.keys_per_token = options.kv_keys_per_token;
  kc.ram_bytes = static_cast<uint64_t>(options.kv_ram_gib * kGiB);
  kc.spill_dir = options.kv_spill_dir;
  if (gpu >= 0) {
    // --kv-f32 --kv-quant 0: the exact f32 cache (its decode steps are recorded as CUDA graphs);
    // otherwise the tiered cache in device memory. The VRAM kept from the weights for the KV
    // cache: its upper bound.
    const bool exact = options.kv_f32 && options.kv_quant == 0;
    const uint64_t values = 2ull * c.n_layers * static_cast<uint64_t>(ctx) * kv_width;
    const uint64_t kv_bytes = values * (options.kv_f32 ? sizeof(float) : 2);
    FS_RETURN_IF_ERROR(OpenGpuSession(index, options, gpu, kv_bytes, progress, &s->backend_, &s->store_, &s->plan_));
    if (exact) {
      s->kv_ = std::make_unique<BackendKvCache>(*s->backend_, c.n_layers, kv_width, ctx);
    } else {
      FS_ASSIGN_OR_RETURN(s->kv_, MakeDeviceKvCache(kc, *s->backend_));
    }
    s->model_->set_max_chunk(kGpuMaxChunk);
    if (options.self_draft_bits > 0) {
      // The copy is built on the host from the files (mapped for the build only), then moved
      // into device memory, which OpenGpuSession set aside for it.
      FS_ASSIGN_OR_RETURN(std::unique_ptr<WeightStore> files, OpenMmapStore(index));
      ThreadPool pool(threads);
      FS_RETURN_IF_ERROR(s->OpenSelfDraft(options, *files, pool, progress));
      if (s->self_draft_ != nullptr) FS_RETURN_IF_ERROR(s->self_draft_->MoveTo(*s->backend_, *s->store_));
    }
  } else {
    if (options.use_mmap) {
      FS_ASSIGN_OR_RETURN(s->store_, OpenMmapStore(index));
    } else if (UseExpertCache(index, options)) {
      FS_RETURN_IF_ERROR(OpenExpertStore(index, options, progress, s->store_, s->experts_, &s->plan_));
      s->model_->moe()->set_expert_source(s->experts_.get());
    } else {
      FS_ASSIGN_OR_RETURN(s->store_, OpenStore(index, options, progress, &s->plan_));
    }
    s->pool_ = std::make_unique<ThreadPool>(threads);
    s->backend_ =
        MakeCpuBackend(*s->pool_, CpuBackendOptions{CpuIsa::kAuto, options.int8_activations, options.int8_levels});
    if (options.self_draft_bits > 0) FS_RETURN_IF_ERROR(s->OpenSelfDraft(options, *s->store_, *s->pool_, progress));
    FS_ASSIGN_OR_RETURN(s->kv_, MakeHostKvCache(kc));
  }
  if (options.verbose) std::fprintf(stderr, "flashstream: %s\n", s->kv_->Describe().c_str());
  if (!options.draft_model_path.empty()) {
    if (s->tokenizer_ == nullptr) return Errorf("{}: a draft model needs the model's tokenizer", options.model_path);
    EngineOptions d = options;
    d.model_path = options.draft_model_path;
    d.draft_model_path.clear();
    d.ctx = ctx;
    FS_ASSIGN_OR_RETURN(s->drafter_, ModelDrafter::Open(d, *s->tokenizer_));
  }
  s->load_seconds_ = SecondsSince(t0);
  return s;
}

Session::~Session() = default;

bool Session::self_draft_from_cache() const { return self_draft_ != nullptr && self_draft_->from_cache(); }

void Session::Reset() {
  history_.clear();
  kv_->Truncate(0);  // always exact
}

Status Session::CutKv(int n) {
  const int kept = kv_->Truncate(n);
  if (kept == n) return Status::Ok();
  // The cache could not cut there exactly (docs/KV_CACHE.md): recompute the rest from history_.
  const std::vector<int32_t> redo(history_.begin() + kept, history_.begin() + n);
  std::vector<float> logits;
  const Status status = model_->Forward(redo, false, *store_, *backend_, *kv_, &logits);
  if (!status.ok()) Reset();
  return status;
}

Status Session::Rewind(int n_keep) {
  FS_CHECK(n_keep >= 0 && n_keep <= n_past(), "rewind");
  FS_RETURN_IF_ERROR(CutKv(n_keep));
  history_.resize(static_cast<size_t>(n_keep));
  return Status::Ok();
}

void Session::set_prefill_progress(const ProgressFn& fn) {
  if (!fn) {
    model_->set_progress(nullptr);
    return;
  }
  model_->set_progress(
      [fn](int64_t done, int64_t total) { fn(static_cast<uint64_t>(done), static_cast<uint64_t>(total)); });
}

Result<std::unique_ptr<SessionCheckpoint>> Session::Save() const {
  auto c = std::make_unique<SessionCheckpoint>();
  c->history = history_;
  FS_ASSIGN_OR_RETURN(c->kv, kv_->Clone());
  return c;
}

void Session::Restore(const SessionCheckpoint& checkpoint) {
  Result<std::unique_ptr<KvCache>> copy = checkpoint.kv->Clone();
  FS_CHECK(copy.ok(), "restoring a checkpoint: {}", copy.status().message());
  kv_ = std::move(copy).value();
  history_ = checkpoint.history;
}

Status Session::Append(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) {
  const Status status = model_->Forward(tokens, all_logits, *store_, *backend_, *kv_, logits);
  if (!status.ok()) {  // a failed pass may have written some layers: start over
    Reset();
    return status;
  }
  history_.insert(history_.end(), tokens.begin(), tokens.end());
  return Status::Ok();
}

Status Session::Evaluate(std::span<const int32_t> tokens, std::vector<float>* logits) {
  Reset();
  if (tokens.empty()) return Errorf("nothing to evaluate: the token list is empty");
  return Append(tokens, true, logits);
}

Result<RunStats> Session::Generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                   const PieceFn& on_piece, const std::atomic<bool>* cancel,
                                   std::vector<int32_t>* generated) {
  if (prompt.empty()) return Errorf("the prompt is empty");
  if (tokenizer_ == nullptr) return Errorf("{}: no tokenizer: generation needs one", options_.model_path);
  if (static_cast<int>(prompt.size()) >= kv_->max_positions()) {
    return Errorf("prompt of {} tokens does not fit the context of {} tokens (raise --ctx)", prompt.size(),
                  kv_->max_positions());
  }
  RunStats stats;
  stats.prompt_tokens = static_cast<int>(prompt.size());
  // Reuse the cached prefix; at least one prompt token must run to produce logits.
  size_t reuse = std::mismatch(history_.begin(), history_.end(), prompt.begin(), prompt.end()).first - history_.begin();
  reuse = std::min(reuse, prompt.size() - 1);
  FS_RETURN_IF_ERROR(Rewind(static_cast<int>(reuse)));
  stats.reused_tokens = static_cast<int>(reuse);

  const StoreStats store_before = store_->stats();
  const ExpertCacheStats experts_before = experts_ ? experts_->stats() : ExpertCacheStats{};
  auto t0 = std::chrono::steady_clock::now();
  FS_RETURN_IF_ERROR(Append(prompt.subspan(reuse), false, &logits_));
  stats.prefill_seconds = SecondsSince(t0);

  const KvStats kv_before_decode = kv_->stats();
  t0 = std::chrono::steady_clock::now();
  Sampler sampler(options.sampling);
  StopMatcher stops(options.stop);
  Detokenizer detok(*tokenizer_);
  const size_t vocab = static_cast<size_t>(model_->config().vocab_size);
  const auto row = [this, vocab](int i) {
    return std::span<const float>(logits_.data() + static_cast<size_t>(i) * vocab, vocab);
  };
  stats.stop_reason = "length";
  // Emits one token; false when the generation ends with it.
  const auto emit = [&](int32_t token) {
    ++stats.generated_tokens;
    if (generated != nullptr) generated->push_back(token);
    if (!options.ignore_eos && tokenizer_->IsEndOfGeneration(token)) {
      stats.stop_reason = "eos";
      return false;
    }
    const std::string text = stops.Push(detok.Feed(token));
    if (!text.empty() && on_piece) on_piece(text);
    if (stops.stopped()) {
      stats.stop_reason = "stop";
      return false;
    }
    return stats.generated_tokens < options.max_tokens;
  };
  const bool lookup = options.lookup_ngram > 0;
  const bool drafting = lookup || drafter_ != nullptr || self_draft_ != nullptr;
  const NgramDrafter ngrams(std::max(1, options.lookup_ngram));
  DraftPolicy policy(std::max(0, options.draft_max));
  std::vector<int32_t> input, draft;
  int32_t next = sampler.Sample(row(0), history_);
  while (true) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      stats.stop_reason = "cancelled";
      break;
    }
    if (!emit(next)) break;
    const int n_before = kv_->n_past();
    if (n_before + 1 >= kv_->max_positions()) {
      stats.stop_reason = "context";
      break;
    }
    input.assign(1, next);
    draft.clear();
    if (drafting) {  // what may follow `next`, within the context and the tokens left
      const int room = std::min(
          {kv_->max_positions() - n_before - 2, options.max_tokens - stats.generated_tokens - 1, options.draft_max});
      FS_RETURN_IF_ERROR(Draft(next, room, lookup ? &ngrams : nullptr, policy, &draft));
      input.insert(input.end(), draft.begin(), draft.end());
    }
    const auto pass_start = std::chrono::steady_clock::now();
    backend_->SetTokenwise(!draft.empty());  // a verification pass emits what 1-token passes would
    const Status appended = Append(input, !draft.empty(), &logits_);
    backend_->SetTokenwise(false);
    FS_RETURN_IF_ERROR(appended);
    ++stats.decode_passes;
    if (drafting) policy.RecordPass(static_cast<int>(input.size()), SecondsSince(pass_start));
    const int k = static_cast<int>(draft.size());
    bool more = true;
    int accepted = 0;
    for (; accepted < k && more; ++accepted) {  // row i predicts the token after input i
      const auto seen = std::span<const int32_t>(history_).first(static_cast<size_t>(n_before + 1 + accepted));
      const DraftVerdict verdict = VerifyDraft(sampler, row(accepted), seen, draft[static_cast<size_t>(accepted)]);
      if (!verdict.accepted) {
        next = verdict.token;
        break;
      }
      more = emit(verdict.token);
    }
    if (k > 0) {
      stats.drafted_tokens += k;
      stats.accepted_tokens += accepted;
      policy.RecordDraft(k, accepted);
      FS_RETURN_IF_ERROR(Rewind(n_before + 1 + accepted));  // keep `next` and the accepted drafts
    }
    if (!more) break;
    if (accepted == k) next = sampler.Sample(row(k), history_);
  }
  const std::string rest = stops.Push(detok.Finish());
  if (!rest.empty() && on_piece) on_piece(rest);
  const std::string held = stops.Flush();
  if (!held.empty() && on_piece) on_piece(held);
  stats.decode_seconds = SecondsSince(t0);
  stats.kv = kv_->stats().Since(kv_before_decode);
  stats.kv_bytes = stats.kv.ram_bytes();
  stats.self_draft_bytes = self_draft_ != nullptr ? self_draft_->copy_bytes() : 0;
  stats.peak_rss_bytes = PeakRssBytes();
  stats.store = store_->stats().Since(store_before);
  if (experts_) {
    stats.experts = experts_->stats().Since(experts_before);
  }
  return stats;
}

}  // namespace flashstream

namespace flashstream {

Status Session::OpenSelfDraft(const EngineOptions& options, WeightStore& host, ThreadPool& pool,
                              const ProgressFn& progress) {
  if (!plan_.streams()) {
    std::fprintf(stderr, "flashstream: self-draft: the model is resident, so it drafts nothing (ignored)\n");
    return Status::Ok();
  }
  ProgressBar bar(fmt::format("self-draft {}-bit copy", options.self_draft_bits), "bytes", progress != nullptr);
  FS_ASSIGN_OR_RETURN(self_draft_, SelfDraftStore::Build(
                                       host, plan_.layer_resident, options.self_draft_bits, pool,
                                       [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); },
                                       SelfDraftCacheDir(options.self_draft_cache)));
  if (options.verbose) {
    std::fprintf(stderr, "flashstream: self-draft copy %s\n",
                 self_draft_->from_cache() ? "read from the cache" : "built");
  }
  return Status::Ok();
}

Status Session::Draft(int32_t next, int room, const NgramDrafter* ngrams, DraftPolicy& policy,
                      std::vector<int32_t>* draft) {
  history_.push_back(next);
  if (ngrams != nullptr) ngrams->Draft(history_, room, draft);
  const bool by_model = draft->empty() && (drafter_ != nullptr || self_draft_ != nullptr);
  const int k = policy.Choose(by_model ? room : static_cast<int>(draft->size()), by_model);
  if (!by_model || k == 0) {
    history_.pop_back();
    draft->resize(static_cast<size_t>(k));
    return Status::Ok();
  }
  // A long run of tokens the draft model has not seen (the prompt, or a stretch of plain
  // passes) is caught up before the clock starts: it is not what drafting k tokens costs, and
  // counting it would make one draft look too dear to try again.
  if (drafter_ != nullptr && drafter_->Pending(history_) > static_cast<size_t>(room) + 1) {
    if (Status st = drafter_->CatchUp(history_); !st.ok()) {
      history_.pop_back();
      return st;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  Status status = Status::Ok();
  if (drafter_ != nullptr) {
    status = drafter_->Draft(history_, k, draft);
    history_.pop_back();
  } else {
    history_.pop_back();
    status = SelfDraft(next, k, draft);
  }
  policy.RecordDraftSeconds(k, SecondsSince(t0));
  return status;
}

Status Session::SelfDraft(int32_t next, int k, std::vector<int32_t>* draft) {
  // The draft passes write approximate K/V after the history; the verifying pass overwrites them.
  const int n_past = kv_->n_past();
  int32_t token[1] = {next};
  Status status = Status::Ok();
  for (int i = 0; i < k && status.ok(); ++i) {
    status = model_->Forward(token, false, *self_draft_, *backend_, *kv_, &draft_logits_);
    if (!status.ok()) break;
    token[0] =
        static_cast<int32_t>(std::max_element(draft_logits_.begin(), draft_logits_.end()) - draft_logits_.begin());
    draft->push_back(token[0]);
  }
  const Status cut = CutKv(n_past);
  return status.ok() ? cut : status;
}

Status Session::WriteTrace(const std::string& path) const {
  const std::vector<LayerEvent>* trace = StoreTrace(*store_);
  if (trace == nullptr) return Errorf("{}: no trace: the weight store records none (not with --mmap)", path);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return Errorf("{}: cannot write the trace", path);
  std::fprintf(f, "layer,io_begin,io_end,compute_begin,compute_end\n");
  for (const LayerEvent& e : *trace) {
    std::fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f\n", e.layer, e.io_begin, e.io_end, e.compute_begin, e.compute_end);
  }
  const bool ok = std::fclose(f) == 0;
  return ok ? Status::Ok() : Errorf("{}: write failed", path);
}

}  // namespace flashstream
