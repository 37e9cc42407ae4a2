// OpenGpuStore (store/gpu_store.h): device-resident layers, a pinned (or disk-streamed) host
// tier, and the ring of device buffers the host tier is copied through.
//
// Ring protocol (pinned tier; all calls enqueue, none waits): slot s holds at most one
// layer. Starting a copy into s enqueues, on the copy stream, a wait for s.freed (the
// compute that last read s), the copy, and s.loaded. Acquire(l) makes the compute stream
// wait for l's slot's `loaded`; Release(l) records `freed` on the compute stream. Copies run
// ahead in the layer order of a pass (wrapping to the next pass) into every slot not in use.
// With a disk tier the host store's views are pageable staging memory that is reused after
// its Release, so that copy is waited for before the host layer is released.
#include "store/gpu_store.h"

#include <cuda_runtime_api.h>  // streams, events, cudaMemcpyAsync, cudaMemGetInfo

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

#include "backend/cuda/cuda_backend.h"  // CudaBackendStream
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_memory.h"
#include "core/check.h"
#include "store/extent_map.h"

namespace flashstream {
namespace {

// Owns one CUDA event without timing.
class Event {
 public:
  Event() { FS_CUDA_CHECK(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming)); }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  ~Event() {
    if (e_ != nullptr) cudaEventDestroy(e_);
  }
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

class GpuStore final : public WeightStore {
 public:
  GpuStore(const ModelIndex& index, const cuda::Stream& compute) : index_(index), compute_(compute) {}
  ~GpuStore() override {
    // Copies may still be in flight into buffers about to be freed.
    if (copy_ != nullptr) {
      cudaStreamSynchronize(copy_);
      cudaStreamDestroy(copy_);
    }
    cudaStreamSynchronize(cs());
  }

  Status Open(const GpuStoreOptions& options, const ProgressFn& progress, ResidencyPlan* plan_out);

  const ModelIndex& index() const override { return index_; }
  const TensorView* Global(std::string_view name) const override { return globals_.Find(name); }
  Result<const LayerWeights*> Acquire(int layer) override;
  void Release(int layer) override;
  StoreStats stats() const override;

 private:
  struct Slot {
    cuda::DeviceBuffer buf;
    Event loaded;  // recorded on the copy stream after the copy of `layer`
    Event freed;   // recorded on the compute stream when compute released the slot
    int layer = -1;
    bool pending = false;  // a copy of `layer` was started and not yet acquired
    bool in_use = false;   // acquired by compute
    bool used = false;     // `freed` has been recorded
    LayerWeights views;
  };

  cudaStream_t cs() const { return static_cast<cudaStream_t>(compute_.handle()); }
  Status ReadInto(const ExtentMap& map, std::byte* dst);
  // Copies `map`'s bytes from disk into a new device buffer through two pinned staging buffers.
  Status LoadResident(const ExtentMap& map, cuda::DeviceBuffer* out);
  void StartCopy(Slot& slot, int layer, const std::byte* src);
  // Starts copies of the next streamed layers into free slots (pinned tier).
  void TopUp();
  Slot* FindPending(int layer);
  Status AcquireFromDisk(int layer, Slot** out);
  void SampleMemory();

  ModelIndex index_;
  const cuda::Stream& compute_;
  cudaStream_t copy_ = nullptr;
  std::vector<std::unique_ptr<DirectReader>> readers_;
  std::vector<ExtentMap> maps_;  // [n_layers]
  std::vector<bool> on_gpu_;     // [n_layers]
  std::vector<int> streamed_;    // host-tier layers in order
  cuda::DeviceBuffer global_buf_;
  LayerWeights globals_;
  std::vector<cuda::DeviceBuffer> gpu_layers_;  // [n_layers], empty for host-tier layers
  std::vector<LayerWeights> gpu_views_;         // [n_layers]
  std::vector<cuda::PinnedBuffer> pinned_;      // [n_layers] pinned tier, empty otherwise
  std::unique_ptr<WeightStore> host_;           // disk tier (--ram)
  std::array<cuda::PinnedBuffer, 2> staging_;   // load only
  std::array<Event, 2> staged_;                 // load only: staging buffer i may be refilled
  std::vector<Slot> slots_;
  size_t next_ = 0;       // index into streamed_ of the next layer to copy (pinned tier)
  size_t victim_ = 0;     // next slot the disk tier fills
  size_t load_turn_ = 0;  // staging buffer of the next load
  int held_ = -1;
  Slot* held_slot_ = nullptr;
  StoreStats stats_;
};

Status GpuStore::ReadInto(const ExtentMap& map, std::byte* dst) {
  for (const Extent& e : map.extents) {
    DirectReader& reader = *readers_[static_cast<size_t>(e.file)];
    FS_RETURN_IF_ERROR(reader.CheckUnchanged());
    FS_RETURN_IF_ERROR(reader.Read(e.range, dst + e.buffer_offset));
  }
  return Status::Ok();
}

Status GpuStore::LoadResident(const ExtentMap& map, cuda::DeviceBuffer* out) {
  FS_ASSIGN_OR_RETURN(*out, cuda::DeviceBuffer::Allocate(map.bytes));
  if (map.bytes == 0) return Status::Ok();
  // Alternate staging buffers: reading the next group overlaps copying this one.
  static_assert(std::tuple_size_v<decltype(staging_)> == 2);
  const size_t i = load_turn_++ % 2;
  FS_RETURN_IF_ERROR(cuda::CudaStatus(cudaEventSynchronize(staged_[i].get()), "cudaEventSynchronize"));
  FS_RETURN_IF_ERROR(ReadInto(map, staging_[i].data()));
  FS_RETURN_IF_ERROR(
      cuda::CudaStatus(cudaMemcpyAsync(out->data(), staging_[i].data(), map.bytes, cudaMemcpyHostToDevice, copy_),
                       fmt::format("upload of {} bytes", map.bytes)));
  return cuda::CudaStatus(cudaEventRecord(staged_[i].get(), copy_), "cudaEventRecord");
}

Status GpuStore::Open(const GpuStoreOptions& options, const ProgressFn& progress, ResidencyPlan* plan_out) {
  FS_RETURN_IF_ERROR(cuda::SetDevice(compute_.device()));
  FS_RETURN_IF_ERROR(cuda::CudaStatus(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "cudaStreamCreate"));
  for (const std::string& path : index_.files) {
    FS_ASSIGN_OR_RETURN(std::unique_ptr<DirectReader> reader, DirectReader::Open(path, options.host.io));
    readers_.push_back(std::move(reader));
  }
  // Tensors by layer, as the streaming store groups them.
  std::vector<const TensorInfo*> global_tensors;
  std::vector<std::vector<const TensorInfo*>> groups(static_cast<size_t>(index_.config.n_layers));
  for (const TensorInfo& t : index_.tensors) {
    const int layer = SplitLayerName(t.name).first;
    (layer >= 0 && layer < index_.config.n_layers ? groups[static_cast<size_t>(layer)] : global_tensors).push_back(&t);
  }
  const ExtentMap global_map = BuildExtentMap(global_tensors);
  PlanInput in;
  in.budget_bytes = options.vram_budget_bytes;
  in.global_bytes = global_map.bytes;
  in.min_slots = 2;
  in.max_slots = std::max(2, options.ring_slots);
  in.read_gbps = options.pcie_gbps;
  in.budget_flag = "--vram";
  in.tier = options.host_budget_bytes > 0 ? "host" : "PCIe";
  for (const auto& g : groups) {
    maps_.push_back(BuildExtentMap(g));
    in.layer_bytes.push_back(maps_.back().bytes);
  }
  FS_ASSIGN_OR_RETURN(ResidencyPlan plan, PlanResidency(in));
  on_gpu_ = plan.layer_resident;
  const int n_layers = static_cast<int>(maps_.size());
  for (int l = 0; l < n_layers; ++l) {
    if (!on_gpu_[static_cast<size_t>(l)]) streamed_.push_back(l);
  }

  // Globals and GPU layers: disk -> pinned staging -> device.
  uint64_t staging = global_map.bytes, total = global_map.bytes, done = 0;
  for (int l = 0; l < n_layers; ++l) {
    const uint64_t b = maps_[static_cast<size_t>(l)].bytes;
    if (on_gpu_[static_cast<size_t>(l)]) staging = std::max(staging, b);
    if (on_gpu_[static_cast<size_t>(l)] || options.host_budget_bytes == 0) total += b;
  }
  for (cuda::PinnedBuffer& b : staging_) {
    FS_ASSIGN_OR_RETURN(b, cuda::PinnedBuffer::Allocate(staging));
  }
  FS_RETURN_IF_ERROR(LoadResident(global_map, &global_buf_));
  globals_ = global_map.Views(global_buf_.data());
  done += global_map.bytes;
  if (progress) progress(done, total);
  gpu_layers_.resize(static_cast<size_t>(n_layers));
  gpu_views_.resize(static_cast<size_t>(n_layers));
  for (int l = 0; l < n_layers; ++l) {
    if (!on_gpu_[static_cast<size_t>(l)]) continue;
    const ExtentMap& map = maps_[static_cast<size_t>(l)];
    FS_RETURN_IF_ERROR(LoadResident(map, &gpu_layers_[static_cast<size_t>(l)]));
    gpu_views_[static_cast<size_t>(l)] = map.Views(gpu_layers_[static_cast<size_t>(l)].data());
    done += map.bytes;
    if (progress) progress(done, total);
  }
  FS_RETURN_IF_ERROR(cuda::CudaStatus(cudaStreamSynchronize(copy_), "upload of the resident weights"));
  for (cuda::PinnedBuffer& b : staging_) b = cuda::PinnedBuffer();

  // The host tier.
  if (!streamed_.empty() && options.host_budget_bytes == 0) {
    pinned_.resize(static_cast<size_t>(n_layers));
    for (int l : streamed_) {
      const ExtentMap& map = maps_[static_cast<size_t>(l)];
      Result<cuda::PinnedBuffer> buf = cuda::PinnedBuffer::Allocate(map.bytes);
      if (!buf.ok()) {
        return Errorf("pinned host memory for the layers beyond --vram: {} (set --ram to stream them from disk)",
                      buf.status().message());
      }
      pinned_[static_cast<size_t>(l)] = std::move(buf).value();
      FS_RETURN_IF_ERROR(ReadInto(map, pinned_[static_cast<size_t>(l)].data()));
      done += map.bytes;
      if (progress) progress(done, total);
    }
  } else if (!streamed_.empty()) {
    // A host store over the host-tier layers only: the other tensors are left out, so its
    // planner and prefetcher see just these layers.
    ModelIndex host_index = index_;
    host_index.tensors.clear();
    for (const TensorInfo& t : index_.tensors) {
      const int layer = SplitLayerName(t.name).first;
      if (layer >= 0 && layer < n_layers && !on_gpu_[static_cast<size_t>(layer)]) host_index.tensors.push_back(t);
    }
    StreamingOptions so = options.host;
    so.budget_bytes = options.host_budget_bytes;
    ResidencyPlan host_plan;
    FS_ASSIGN_OR_RETURN(host_, OpenStreamingStore(host_index, so, nullptr, &host_plan));
    std::fprintf(stderr, "flashstream: host tier %s\n", host_plan.Describe().c_str());
  }
  if (!streamed_.empty()) {
    slots_.resize(static_cast<size_t>(plan.staging_slots));
    for (Slot& s : slots_) {
      FS_ASSIGN_OR_RETURN(s.buf, cuda::DeviceBuffer::Allocate(plan.slot_bytes));
    }
  }
  stats_.resident_bytes = plan.resident_bytes;
  stats_.staging_bytes = plan.staging_bytes;
  SampleMemory();
  if (plan_out != nullptr) *plan_out = plan;
  return Status::Ok();
}

void GpuStore::SampleMemory() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) == cudaSuccess) {
    stats_.gpu_memory_peak = std::max<uint64_t>(stats_.gpu_memory_peak, total - free_bytes);
  } else {
    cudaGetLastError();
  }
}

void GpuStore::StartCopy(Slot& slot, int layer, const std::byte* src) {
  const ExtentMap& map = maps_[static_cast<size_t>(layer)];
  if (slot.used) FS_CUDA_CHECK(cudaStreamWaitEvent(copy_, slot.freed.get(), 0));
  FS_CUDA_CHECK(cudaMemcpyAsync(slot.buf.data(), src, map.bytes, cudaMemcpyHostToDevice, copy_));
  FS_CUDA_CHECK(cudaEventRecord(slot.loaded.get(), copy_));
  if (slot.layer != layer) slot.views = map.Views(slot.buf.data());
  slot.layer = layer;
  slot.pending = true;
  stats_.h2d_bytes += map.bytes;
}

GpuStore::Slot* GpuStore::FindPending(int layer) {
  for (Slot& s : slots_) {
    if (s.pending && s.layer == layer) return &s;
  }
  return nullptr;
}

void GpuStore::TopUp() {
  for (;;) {
    const int layer = streamed_[next_];
    if (FindPending(layer) != nullptr) return;  // the ring already holds the next pass's turn
    Slot* free_slot = nullptr;
    for (Slot& s : slots_) {
      if (!s.in_use && !s.pending) {
        free_slot = &s;
        break;
      }
    }
    if (free_slot == nullptr) return;
    StartCopy(*free_slot, layer, pinned_[static_cast<size_t>(layer)].data());
    next_ = (next_ + 1) % streamed_.size();
  }
}

Status GpuStore::AcquireFromDisk(int layer, Slot** out) {
  FS_ASSIGN_OR_RETURN(const LayerWeights* host, host_->Acquire(layer));
  const ExtentMap& map = maps_[static_cast<size_t>(layer)];
  // The host buffer's base: every view sits at its placement's offset (the host store builds
  // the same extent map from the same tensors).
  FS_CHECK(!map.tensors.empty(), "layer {} has no tensors", layer);
  const ExtentMap::Placement& first = map.tensors.front();
  const std::byte* base = host->Get(first.role).data - first.buffer_offset;
  Slot* slot = nullptr;
  for (size_t k = 0; k < slots_.size() && slot == nullptr; ++k) {
    Slot& s = slots_[(victim_ + k) % slots_.size()];
    if (!s.in_use) {
      slot = &s;
      victim_ = (victim_ + k + 1) % slots_.size();
    }
  }
  FS_CHECK(slot != nullptr, "no free slot in the GPU ring");
  StartCopy(*slot, layer, base);
  // Pageable source: the copy must land before the host store reuses its buffer.
  const Status synced = cuda::CudaStatus(cudaStreamSynchronize(copy_), "copy of a streamed layer to the GPU");
  host_->Release(layer);
  FS_RETURN_IF_ERROR(synced);
  *out = slot;
  return Status::Ok();
}

Result<const LayerWeights*> GpuStore::Acquire(int layer) {
  FS_CHECK(layer >= 0 && static_cast<size_t>(layer) < on_gpu_.size(), "layer {}", layer);
  FS_CHECK(held_ < 0, "layer {} acquired while layer {} is held", layer, held_);
  if (on_gpu_[static_cast<size_t>(layer)]) {
    held_ = layer;
    return &gpu_views_[static_cast<size_t>(layer)];
  }
  Slot* slot = nullptr;
  if (host_ != nullptr) {
    FS_RETURN_IF_ERROR(AcquireFromDisk(layer, &slot));
  } else {
    slot = FindPending(layer);
    if (slot == nullptr) {  // first pass, or out of order: restart the sequence at `layer`
      for (Slot& s : slots_) s.pending = false;
      next_ = static_cast<size_t>(std::find(streamed_.begin(), streamed_.end(), layer) - streamed_.begin());
      TopUp();
      slot = FindPending(layer);
    }
    FS_CHECK(slot != nullptr, "layer {} not in the GPU ring", layer);
  }
  FS_CUDA_CHECK(cudaStreamWaitEvent(cs(), slot->loaded.get(), 0));
  slot->pending = false;
  slot->in_use = true;
  held_ = layer;
  held_slot_ = slot;
  if (host_ == nullptr) TopUp();
  return &slot->views;
}

void GpuStore::Release(int layer) {
  FS_CHECK(held_ == layer, "release of layer {} while {} is held", layer, held_);
  held_ = -1;
  if (held_slot_ != nullptr) {
    FS_CUDA_CHECK(cudaEventRecord(held_slot_->freed.get(), cs()));
    held_slot_->in_use = false;
    held_slot_->used = true;
    held_slot_ = nullptr;
    if (host_ == nullptr) TopUp();
  }
  if (layer + 1 == static_cast<int>(on_gpu_.size())) SampleMemory();
}

StoreStats GpuStore::stats() const {
  StoreStats s = host_ != nullptr ? host_->stats() : StoreStats{};
  s.resident_bytes = stats_.resident_bytes;
  s.staging_bytes = stats_.staging_bytes;
  s.h2d_bytes = stats_.h2d_bytes;
  s.gpu_memory_peak = stats_.gpu_memory_peak;
  return s;
}

}  // namespace

Result<std::unique_ptr<WeightStore>> OpenGpuStore(const ModelIndex& index, Backend& backend,
                                                  const GpuStoreOptions& options, const ProgressFn& progress,
                                                  ResidencyPlan* plan) {
  auto store = std::make_unique<GpuStore>(index, CudaBackendStream(backend));
  FS_RETURN_IF_ERROR(store->Open(options, progress, plan));
  return std::unique_ptr<WeightStore>(std::move(store));
}

}  // namespace flashstream
