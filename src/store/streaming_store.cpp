#include "store/streaming_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "store/extent_map.h"

namespace flashstream {
namespace {

constexpr size_t kMaxTraceEvents = 1 << 16;

std::vector<std::vector<const TensorInfo*>> GroupByLayer(const ModelIndex& index,
                                                         std::vector<const TensorInfo*>* globals) {
  std::vector<std::vector<const TensorInfo*>> layers(static_cast<size_t>(index.config.n_layers));
  for (const TensorInfo& t : index.tensors) {
    const int layer = SplitLayerName(t.name).first;
    if (layer >= 0 && layer < index.config.n_layers) {
      layers[static_cast<size_t>(layer)].push_back(&t);
    } else {
      globals->push_back(&t);
    }
  }
  return layers;
}

class StreamingStore final : public WeightStore {
 public:
  explicit StreamingStore(const ModelIndex& index) : index_(index), t0_(std::chrono::steady_clock::now()) {}
  ~StreamingStore() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  Status Open(const StreamingOptions& options, const ProgressFn& progress, ResidencyPlan* plan_out);

  const ModelIndex& index() const override { return index_; }
  const TensorView* Global(std::string_view name) const override { return globals_.Find(name); }
  Result<const LayerWeights*> Acquire(int layer) override;
  void Release(int layer) override;
  StoreStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  const std::vector<LayerEvent>& trace() const { return trace_; }

 private:
  enum class SlotState { kFree, kLoading, kReady, kInUse };
  struct Slot {
    AlignedBuffer buffer;
    SlotState state = SlotState::kFree;
    int layer = -1;
    uint64_t generation = 0;
    LayerWeights views;
    Status error;
    double io_begin = 0, io_end = 0;
  };

  double Now() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  Status ReadInto(const ExtentMap& map, std::byte* dst);
  void PrefetchLoop();
  // Restarts the read-ahead sequence at `layer` (a pass began somewhere unexpected).
  void Resync(int layer);
  int NextStreamed(int layer) const;
  int AheadCount() const;

  ModelIndex index_;
  std::chrono::steady_clock::time_point t0_;
  std::vector<std::unique_ptr<DirectReader>> readers_;  // one per file; the prefetch thread's after Open
  std::vector<ExtentMap> layer_maps_;                  // [n_layers]
  std::vector<bool> resident_;                         // [n_layers]
  std::vector<int> streamed_;                          // streamed layer ids in order
  AlignedBuffer global_buffer_;
  LayerWeights globals_;
  std::vector<AlignedBuffer> resident_buffers_;  // [n_layers], empty for streamed layers
  std::vector<LayerWeights> resident_views_;     // [n_layers]
  bool trace_enabled_ = false;
  bool use_pacer_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool stop_ = false;
  std::vector<Slot> slots_;
  size_t cursor_ = 0;        // index into streamed_ of the next layer to read
  int expected_ = -1;        // next streamed layer compute will acquire
  uint64_t generation_ = 0;  // bumped by Resync
  int ahead_limit_ = 1;      // slots that may be loading or ready (adaptive lookahead)
  double io_ema_ = 0, compute_ema_ = 0;
  Pacer pacer_{PacerOptions{}};
  StoreStats stats_;
  std::vector<LayerEvent> trace_;
  int acquired_ = -1;
  double acquired_at_ = 0, acquire_wait_ = 0;
  bool reads_during_compute_ = false;
};

Status StreamingStore::ReadInto(const ExtentMap& map, std::byte* dst) {
  for (const Extent& e : map.extents) {
    DirectReader& reader = *readers_[static_cast<size_t>(e.file)];
    FS_RETURN_IF_ERROR(reader.CheckUnchanged());
    FS_RETURN_IF_ERROR(reader.Read(e.range, dst + e.buffer_offset));
  }
  return Status::Ok();
}

Status StreamingStore::Open(const StreamingOptions& options, const ProgressFn& progress, ResidencyPlan* plan_out) {
  trace_enabled_ = options.trace;
  use_pacer_ = options.pacer;
  for (const std::string& path : index_.files) {
    FS_ASSIGN_OR_RETURN(std::unique_ptr<DirectReader> reader, DirectReader::Open(path, options.io));
    readers_.push_back(std::move(reader));
  }
  std::vector<const TensorInfo*> global_tensors;
  const auto groups = GroupByLayer(index_, &global_tensors);
  const ExtentMap global_map = BuildExtentMap(global_tensors, options.max_gap);
  PlanInput in;
  in.budget_bytes = options.budget_bytes;
  in.global_bytes = global_map.bytes;
  in.min_slots = options.min_slots;
  in.max_slots = options.max_slots;
  in.read_gbps = options.read_gbps;
  for (const auto& group : groups) {
    layer_maps_.push_back(BuildExtentMap(group, options.max_gap));
    in.layer_bytes.push_back(layer_maps_.back().bytes);
  }
  FS_ASSIGN_OR_RETURN(ResidencyPlan plan, PlanResidency(in));
  resident_ = plan.layer_resident;

  // Read the resident part: globals, then resident layers, with progress.
  const uint64_t total = plan.resident_bytes;
  uint64_t done = 0;
  FS_ASSIGN_OR_RETURN(global_buffer_, AlignedBuffer::Allocate(global_map.bytes));
  FS_RETURN_IF_ERROR(ReadInto(global_map, global_buffer_.data()));
  globals_ = global_map.Views(global_buffer_.data());
  done += global_map.bytes;
  if (progress) progress(done, total);
  const int n_layers = static_cast<int>(layer_maps_.size());
  resident_buffers_.resize(static_cast<size_t>(n_layers));
  resident_views_.resize(static_cast<size_t>(n_layers));
  for (int l = 0; l < n_layers; ++l) {
    const ExtentMap& map = layer_maps_[static_cast<size_t>(l)];
    if (!resident_[static_cast<size_t>(l)]) {
      streamed_.push_back(l);
      continue;
    }
    FS_ASSIGN_OR_RETURN(resident_buffers_[static_cast<size_t>(l)], AlignedBuffer::Allocate(map.bytes));
    FS_RETURN_IF_ERROR(ReadInto(map, resident_buffers_[static_cast<size_t>(l)].data()));
    resident_views_[static_cast<size_t>(l)] = map.Views(resident_buffers_[static_cast<size_t>(l)].data());
    done += map.bytes;
    if (progress) progress(done, total);
  }
  stats_.layers.resize(static_cast<size_t>(n_layers));
  for (int l = 0; l < n_layers; ++l) {
    stats_.layers[static_cast<size_t>(l)].streamed = !resident_[static_cast<size_t>(l)];
    stats_.layers[static_cast<size_t>(l)].bytes = layer_maps_[static_cast<size_t>(l)].bytes;
  }
  stats_.resident_bytes = plan.resident_bytes;
  stats_.staging_bytes = plan.staging_bytes;
  if (plan_out != nullptr) *plan_out = plan;
  if (streamed_.empty()) return Status::Ok();

  slots_.resize(static_cast<size_t>(plan.staging_slots));
  for (Slot& s : slots_) {
    FS_ASSIGN_OR_RETURN(s.buffer, AlignedBuffer::Allocate(plan.slot_bytes));
  }
  ahead_limit_ = plan.staging_slots;
  expected_ = streamed_.front();
  thread_ = std::thread([this] { PrefetchLoop(); });
  return Status::Ok();
}

int StreamingStore::NextStreamed(int layer) const {
  auto it = std::upper_bound(streamed_.begin(), streamed_.end(), layer);
  return it == streamed_.end() ? streamed_.front() : *it;
}

int StreamingStore::AheadCount() const {
  int n = 0;
  for (const Slot& s : slots_) n += s.state == SlotState::kLoading || s.state == SlotState::kReady;
  return n;
}

void StreamingStore::PrefetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] {
      if (stop_) return true;
      if (AheadCount() >= ahead_limit_) return false;
      return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state == SlotState::kFree; });
    });
    if (stop_) return;
    Slot* slot = nullptr;
    for (Slot& s : slots_) {
      if (s.state == SlotState::kFree) {
        slot = &s;
        break;
      }
    }
    const int layer = streamed_[cursor_];
    cursor_ = (cursor_ + 1) % streamed_.size();
    slot->state = SlotState::kLoading;
    slot->layer = layer;
    slot->generation = generation_;
    const uint64_t generation = generation_;
    const ExtentMap& map = layer_maps_[static_cast<size_t>(layer)];
    double delay = use_pacer_ ? pacer_.Reserve(Now(), map.bytes) : 0;
    stats_.pacer_delay_seconds += delay;
    lock.unlock();
    if (delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    const double begin = Now();
    Status status = ReadInto(map, slot->buffer.data());
    const double end = Now();
    lock.lock();
    slot->io_begin = begin;
    slot->io_end = end;
    stats_.bytes_read += map.bytes;
    stats_.io_busy_seconds += end - begin;
    stats_.layers[static_cast<size_t>(layer)].io_seconds += end - begin;
    io_ema_ = io_ema_ == 0 ? end - begin : io_ema_ + 0.2 * ((end - begin) - io_ema_);
    if (generation != generation_) {
      slot->state = SlotState::kFree;
    } else {
      slot->error = status;
      slot->views = map.Views(slot->buffer.data());
      slot->state = SlotState::kReady;
    }
    cv_.notify_all();
  }
}

void StreamingStore::Resync(int layer) {
  ++generation_;
  for (Slot& s : slots_) {
    if (s.state == SlotState::kReady) s.state = SlotState::kFree;
  }
  cursor_ = static_cast<size_t>(std::find(streamed_.begin(), streamed_.end(), layer) - streamed_.begin());
  expected_ = layer;
  cv_.notify_all();
}

Result<const LayerWeights*> StreamingStore::Acquire(int layer) {
  FS_CHECK(layer >= 0 && static_cast<size_t>(layer) < resident_.size(), "layer {}", layer);
  FS_CHECK(acquired_ < 0, "layer {} acquired while layer {} is held", layer, acquired_);
  acquired_ = layer;
  if (resident_[static_cast<size_t>(layer)]) {
    acquire_wait_ = 0;
    acquired_at_ = Now();
    std::lock_guard<std::mutex> lock(mu_);
    reads_during_compute_ = AheadCount() > 0;
    return &resident_views_[static_cast<size_t>(layer)];
  }
  const double t = Now();
  std::unique_lock<std::mutex> lock(mu_);
  if (layer != expected_) Resync(layer);
  Slot* found = nullptr;
  cv_.wait(lock, [&] {
    for (Slot& s : slots_) {
      if (s.layer == layer && s.generation == generation_ && s.state == SlotState::kReady) {
        found = &s;
        return true;
      }
    }
    return false;
  });
  acquired_at_ = Now();
  acquire_wait_ = acquired_at_ - t;
  stats_.io_wait_seconds += acquire_wait_;
  expected_ = NextStreamed(layer);
  if (!found->error.ok()) {
    Status error = found->error;
    found->state = SlotState::kFree;
    acquired_ = -1;
    ++generation_;  // the sequence restarts at the next Acquire
    cv_.notify_all();
    return error;
  }
  found->state = SlotState::kInUse;
  reads_during_compute_ = AheadCount() > 0;
  return &found->views;
}

void StreamingStore::Release(int layer) {
  FS_CHECK(acquired_ == layer, "release of layer {} while {} is held", layer, acquired_);
  acquired_ = -1;
  const double now = Now();
  const double compute = now - acquired_at_;
  std::lock_guard<std::mutex> lock(mu_);
  compute_ema_ = compute_ema_ == 0 ? compute : compute_ema_ + 0.2 * (compute - compute_ema_);
  LayerEvent event{layer, 0, 0, acquired_at_, now};
  if (!resident_[static_cast<size_t>(layer)]) {
    for (Slot& s : slots_) {
      if (s.state == SlotState::kInUse && s.layer == layer) {
        event.io_begin = s.io_begin;
        event.io_end = s.io_end;
        s.state = SlotState::kFree;
      }
    }
    // Adaptive lookahead: enough reads in flight to cover I/O time with compute time.
    if (compute_ema_ > 0) {
      const int want = static_cast<int>(std::ceil(io_ema_ / compute_ema_));
      ahead_limit_ = std::clamp(want, 1, static_cast<int>(slots_.size()));
    }
    stats_.lookahead = ahead_limit_;
  }
  if (use_pacer_) pacer_.OnLayer(compute, reads_during_compute_ || AheadCount() > 0, acquire_wait_, io_ema_ > 0 ? layer_maps_[static_cast<size_t>(layer)].bytes / io_ema_ : 0);
  stats_.pacer_rate = pacer_.rate();
  stats_.quiet_compute_seconds = pacer_.quiet_compute();
  stats_.busy_compute_seconds = pacer_.busy_compute();
  LayerTiming& timing = stats_.layers[static_cast<size_t>(layer)];
  ++timing.passes;
  timing.compute_seconds += compute;
  timing.wait_seconds += acquire_wait_;
  if (trace_enabled_ && trace_.size() < kMaxTraceEvents) trace_.push_back(event);
  cv_.notify_all();
}

}  // namespace

LayerLayout MeasureLayout(const ModelIndex& index) {
  std::vector<const TensorInfo*> globals;
  const auto groups = GroupByLayer(index, &globals);
  LayerLayout layout;
  layout.global_bytes = BuildExtentMap(globals).bytes;
  for (const auto& g : groups) layout.layer_bytes.push_back(BuildExtentMap(g).bytes);
  return layout;
}

Result<std::unique_ptr<WeightStore>> OpenStreamingStore(const ModelIndex& index, const StreamingOptions& options,
                                                        const ProgressFn& progress, ResidencyPlan* plan) {
  auto store = std::make_unique<StreamingStore>(index);
  FS_RETURN_IF_ERROR(store->Open(options, progress, plan));
  return std::unique_ptr<WeightStore>(std::move(store));
}

const std::vector<LayerEvent>* StoreTrace(const WeightStore& store) {
  const auto* s = dynamic_cast<const StreamingStore*>(&store);
  return s != nullptr ? &s->trace() : nullptr;
}

}  // namespace flashstream
