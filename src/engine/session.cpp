#include "engine/session.h"

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "core/check.h"
#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "formats/model_reader.h"
#include "io/bandwidth_probe.h"
#include "io/system_memory.h"
#include "store/streaming_store.h"
#include "tokenizer/detokenizer.h"

namespace flashstream {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Memory kept free for the KV cache, activations and the process itself when sizing an
// automatic budget.
constexpr uint64_t kAutoReserve = 512ull << 20;

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
      std::fprintf(stderr, "flashstream: the model's %.2f GiB of weights exceed the %.2f GiB this process may use: "
                   "streaming within %.2f GiB (set --ram to choose)\n", weights / kGiB, usable / kGiB,
                   so.budget_bytes / kGiB);
    }
  }
  if (so.budget_bytes > 0 && so.budget_bytes < weights) {
    Result<double> gbps = ProbeReadGBps(index.files.front(), so.io, 512ull << 20);
    if (gbps.ok()) so.read_gbps = *gbps;
  }
  Result<std::unique_ptr<WeightStore>> store = OpenStreamingStore(index, so, progress, plan);
  if (store.ok() && (plan->streams() || options.verbose)) {
    std::fprintf(stderr, "flashstream: %s\n", plan->Describe().c_str());
  }
  return store;
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Open(const EngineOptions& options, const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  FS_ASSIGN_OR_RETURN(ModelIndex index, ReadModel(options.model_path));
  FS_ASSIGN_OR_RETURN(s->model_, DecoderModel::Create(index));
  if (index.tokenizer.kind != TokenizerSpec::Kind::kNone) {
    FS_ASSIGN_OR_RETURN(s->tokenizer_, Tokenizer::Create(index.tokenizer));
  }
  if (options.use_mmap) {
    FS_ASSIGN_OR_RETURN(s->store_, OpenMmapStore(index));
  } else {
    FS_ASSIGN_OR_RETURN(s->store_, OpenStore(index, options, progress, &s->plan_));
  }
  const int threads = options.threads > 0 ? options.threads
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  s->pool_ = std::make_unique<ThreadPool>(threads);
  s->backend_ = MakeCpuBackend(*s->pool_, CpuBackendOptions{CpuIsa::kAuto, options.int8_activations});
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
  FS_ASSIGN_OR_RETURN(s->kv_, MakeHostKvCache(kc));
  if (options.verbose) std::fprintf(stderr, "flashstream: %s\n", s->kv_->Describe().c_str());
  s->load_seconds_ = SecondsSince(t0);
  return s;
}

void Session::Reset() {
  history_.clear();
  kv_->Truncate(0);
}

void Session::set_prefill_progress(const ProgressFn& fn) {
  if (!fn) {
    model_->set_progress(nullptr);
    return;
  }
  model_->set_progress([fn](int64_t done, int64_t total) { fn(static_cast<uint64_t>(done), static_cast<uint64_t>(total)); });
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
    return Errorf("prompt of {} tokens does not fit the context of {} tokens (raise --ctx)",
                  prompt.size(), kv_->max_positions());
  }
  RunStats stats;
  stats.prompt_tokens = static_cast<int>(prompt.size());
  // Reuse the cached prefix; at least one prompt token must run to produce logits.
  size_t reuse = std::mismatch(history_.begin(), history_.end(), prompt.begin(), prompt.end()).first -
                 history_.begin();
  reuse = std::min(reuse, prompt.size() - 1);
  reuse = static_cast<size_t>(kv_->Truncate(static_cast<int>(reuse)));  // may keep fewer
  history_.resize(reuse);
  stats.reused_tokens = static_cast<int>(reuse);

  const StoreStats store_before = store_->stats();
  auto t0 = std::chrono::steady_clock::now();
  FS_RETURN_IF_ERROR(Append(prompt.subspan(reuse), false, &logits_));
  stats.prefill_seconds = SecondsSince(t0);

  const KvStats kv_before_decode = kv_->stats();
  t0 = std::chrono::steady_clock::now();
  Sampler sampler(options.sampling);
  StopMatcher stops(options.stop);
  Detokenizer detok(*tokenizer_);
  const int vocab = model_->config().vocab_size;
  stats.stop_reason = "length";
  for (int i = 0; i < options.max_tokens; ++i) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      stats.stop_reason = "cancelled";
      break;
    }
    const int32_t token = sampler.Sample(std::span<const float>(logits_.data(), static_cast<size_t>(vocab)), history_);
    ++stats.generated_tokens;
    if (generated != nullptr) generated->push_back(token);
    if (!options.ignore_eos && tokenizer_->IsEndOfGeneration(token)) {
      stats.stop_reason = "eos";
      break;
    }
    const std::string text = stops.Push(detok.Feed(token));
    if (!text.empty() && on_piece) on_piece(text);
    if (stops.stopped()) {
      stats.stop_reason = "stop";
      break;
    }
    if (i + 1 == options.max_tokens) break;
    if (kv_->n_past() + 1 >= kv_->max_positions()) {
      stats.stop_reason = "context";
      break;
    }
    const int32_t next[1] = {token};
    FS_RETURN_IF_ERROR(Append(next, false, &logits_));
  }
  const std::string rest = stops.Push(detok.Finish());
  if (!rest.empty() && on_piece) on_piece(rest);
  const std::string held = stops.Flush();
  if (!held.empty() && on_piece) on_piece(held);
  stats.decode_seconds = SecondsSince(t0);
  stats.kv = kv_->stats().Since(kv_before_decode);
  stats.kv_bytes = stats.kv.ram_bytes();
  stats.peak_rss_bytes = PeakRssBytes();
  stats.store = store_->stats().Since(store_before);
  return stats;
}

}  // namespace flashstream

namespace flashstream {

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
