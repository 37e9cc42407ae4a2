#include "engine/self_draft.h"

#include <algorithm>
#include <cstdio>

#include "backend/cpu/quant.h"
#include "core/check.h"
#include "core/mlx_quant.h"
#include "engine/self_draft_cache.h"

namespace flashstream {
namespace {

constexpr uint64_t kAlign = 64;

uint64_t AlignUp(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

DType DraftDType(int bits) { return bits == 8 ? DType::kQ8_0 : DType::kQ4_0; }

// A matrix is requantized when its rows split into 32-value blocks; MLX companions are dropped
// (their matrix is requantized from them).
bool Requantized(const TensorInfo& t) { return t.shape.rank == 2 && t.shape[1] % 32 == 0; }
bool Companion(const std::string& role) { return role.ends_with(".scales") || role.ends_with(".biases"); }

uint64_t CopiedBytes(const TensorInfo& t, int bits) {
  return Requantized(t) ? RowBytes(DraftDType(bits), t.shape[1]) * static_cast<uint64_t>(t.shape[0]) : t.bytes;
}

// dst[n] = row r of `view` in f32, whatever its dtype.
void RowToF32(const TensorView& view, int64_t r, float* dst) {
  if (IsMlx(view.dtype)) {
    MlxDequantizeRow(view.dtype, view.row(r), view.scale_row(r), view.bias_row(r), view.aux_dtype, view.group_size, dst,
                     view.cols());
  } else {
    DequantizeRow(view.dtype, view.row(r), dst, view.cols());
  }
}

}  // namespace

// Where each tensor of `layer` that the copy holds sits in the layer's buffer (index order,
// each 64-byte aligned), and the buffer's size.
struct SelfDraftStore::LayerLayout {
  struct Placed {
    const TensorInfo* tensor;
    std::string role;
    uint64_t offset;
  };
  std::vector<Placed> tensors;
  uint64_t bytes = 0;
};

SelfDraftStore::LayerLayout SelfDraftStore::LayoutOf(const ModelIndex& index, int layer, int bits) {
  LayerLayout out;
  for (const TensorInfo& t : index.tensors) {
    auto [tl, role] = SplitLayerName(t.name);
    if (tl != layer || Companion(role)) continue;
    out.tensors.push_back({&t, std::move(role), out.bytes});
    out.bytes += AlignUp(CopiedBytes(t, bits));
  }
  return out;
}

uint64_t SelfDraftStore::CopyBytes(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits) {
  uint64_t total = 0;
  for (size_t l = 0; l < layer_resident.size(); ++l) {
    if (!layer_resident[l]) total += LayoutOf(index, static_cast<int>(l), bits).bytes;
  }
  return total;
}

Result<std::unique_ptr<SelfDraftStore>> SelfDraftStore::Build(WeightStore& base,
                                                              const std::vector<bool>& layer_resident, int bits,
                                                              ThreadPool& pool, const ProgressFn& progress,
                                                              const std::string& cache_dir) {
  if (bits != 4 && bits != 8) return Errorf("--self-draft takes 4 or 8 bits, got {}", bits);
  const ModelIndex& index = base.index();
  const size_t n_layers = layer_resident.size();
  std::unique_ptr<SelfDraftStore> s(new SelfDraftStore(base));
  s->bits_ = bits;
  s->copied_.assign(n_layers, false);
  s->copies_.resize(n_layers);
  std::vector<LayerLayout> layouts(n_layers);      // [n_layers] empty where resident
  std::vector<uint64_t> layer_bytes(n_layers, 0);  // [n_layers] 0 where resident
  uint64_t total = 0;
  for (size_t l = 0; l < n_layers; ++l) {
    if (layer_resident[l]) continue;
    layouts[l] = LayoutOf(index, static_cast<int>(l), bits);
    layer_bytes[l] = layouts[l].bytes;
    total += layer_bytes[l];
  }
  std::string key, path;
  if (!cache_dir.empty()) {
    FS_ASSIGN_OR_RETURN(key, SelfDraftCacheKey(index, layer_resident, bits));
    path = SelfDraftCachePath(cache_dir, key, bits);
    s->from_cache_ = ReadSelfDraftCache(path, key, layer_bytes, &s->buffers_).ok();
  }
  uint64_t done = 0;
  if (!s->from_cache_) s->buffers_.assign(n_layers, {});
  for (size_t l = 0; l < n_layers; ++l) {
    if (layer_resident[l]) continue;
    s->buffers_[l].resize(layer_bytes[l]);  // a no-op when read from the cache
    s->MapViews(static_cast<int>(l), layouts[l], bits, s->buffers_[l].data());
    if (!s->from_cache_) FS_RETURN_IF_ERROR(s->Requantize(static_cast<int>(l), layouts[l], bits, pool));
    s->copied_[l] = true;
    s->copy_bytes_ += layer_bytes[l];
    done += layer_bytes[l];
    if (progress) progress(done, total);
  }
  if (!cache_dir.empty() && !s->from_cache_) {
    const Status written = WriteSelfDraftCache(path, key, s->buffers_);
    if (!written.ok()) std::fprintf(stderr, "flashstream: self-draft copy not cached: %s\n", written.message().c_str());
  }
  return s;
}

Status SelfDraftStore::Requantize(int layer, const LayerLayout& layout, int bits, ThreadPool& pool) {
  const DType draft = DraftDType(bits);
  FS_ASSIGN_OR_RETURN(const LayerWeights* src, base_->Acquire(layer));
  std::byte* const buffer = buffers_[static_cast<size_t>(layer)].data();
  for (const LayerLayout::Placed& p : layout.tensors) {
    const TensorView& in = src->Get(p.role);
    std::byte* out = buffer + p.offset;
    if (Requantized(*p.tensor)) {
      const int64_t cols = in.cols();
      const uint64_t row_bytes = RowBytes(draft, cols);
      pool.Run(pool.size(), [&](int64_t task, int) {
        const int64_t rows = in.rows(), per = (rows + pool.size() - 1) / pool.size();
        std::vector<float> f32(static_cast<size_t>(cols));
        for (int64_t r = task * per; r < std::min(rows, (task + 1) * per); ++r) {
          RowToF32(in, r, f32.data());
          QuantizeRow(draft, f32.data(), out + static_cast<uint64_t>(r) * row_bytes, cols);
        }
      });
    } else {
      FS_CHECK(!IsMlx(in.dtype), "MLX tensor {} without 32-value blocks", p.tensor->name);
      std::copy(in.data, in.data + in.bytes(), out);
    }
  }
  base_->Release(layer);
  return Status::Ok();
}

void SelfDraftStore::MapViews(int layer, const LayerLayout& layout, int bits, std::byte* buffer) {
  LayerWeights& views = copies_[static_cast<size_t>(layer)];
  views = LayerWeights();
  for (const LayerLayout::Placed& p : layout.tensors) {
    const TensorInfo& t = *p.tensor;
    views.Add(p.role, TensorView{buffer + p.offset, Requantized(t) ? DraftDType(bits) : t.dtype, t.shape});
  }
}

Status SelfDraftStore::MoveTo(Backend& backend, WeightStore& base) {
  FS_CHECK(device_ == nullptr, "SelfDraftStore::MoveTo called twice");
  device_ = &backend;
  device_buffers_.assign(copied_.size(), nullptr);
  for (size_t l = 0; l < copied_.size(); ++l) {
    if (!copied_[l]) continue;
    std::vector<std::byte>& host = buffers_[l];
    FS_ASSIGN_OR_RETURN(device_buffers_[l], backend.Allocate(host.size()));
    backend.Upload(device_buffers_[l], host.data(), host.size());
    MapViews(static_cast<int>(l), LayoutOf(index(), static_cast<int>(l), bits_), bits_,
             static_cast<std::byte*>(device_buffers_[l]));
    std::vector<std::byte>().swap(host);
  }
  base_ = &base;
  return Status::Ok();
}

SelfDraftStore::~SelfDraftStore() {
  if (device_ == nullptr) return;
  for (void* p : device_buffers_) {
    if (p != nullptr) device_->Free(p);
  }
}

Result<uint64_t> SelfDraftStore::Reserve(const ModelIndex& index, PlanInput in, int bits) {
  const uint64_t budget = in.budget_bytes;
  uint64_t reserve = 0;
  while (reserve < budget) {
    in.budget_bytes = budget - reserve;
    Result<ResidencyPlan> plan = PlanResidency(in);
    if (!plan.ok()) break;
    const uint64_t need = CopyBytes(index, plan->layer_resident, bits);
    if (need <= reserve) return reserve;
    reserve = need;
  }
  return Errorf(
      "{} {:.2f} GiB cannot hold a {}-bit self-draft copy of the streamed layers ({:.2f} GiB) and the minimum "
      "streaming working set; raise {} or drop --self-draft",
      in.budget_flag, budget / (1024.0 * 1024.0 * 1024.0), bits, reserve / (1024.0 * 1024.0 * 1024.0), in.budget_flag);
}

Result<const LayerWeights*> SelfDraftStore::Acquire(int layer) {
  if (copied_[static_cast<size_t>(layer)]) return &copies_[static_cast<size_t>(layer)];
  return base_->Acquire(layer);
}

void SelfDraftStore::Release(int layer) {
  if (!copied_[static_cast<size_t>(layer)]) base_->Release(layer);
}

}  // namespace flashstream
