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

// The tensors of `layer` that the copy holds, in index order (their order in the copy's buffer).
std::vector<const TensorInfo*> LayerTensors(const ModelIndex& index, int layer) {
  std::vector<const TensorInfo*> tensors;
  for (const TensorInfo& t : index.tensors) {
    const auto [tl, role] = SplitLayerName(t.name);
    if (tl == layer && !Companion(role)) tensors.push_back(&t);
  }
  return tensors;
}

}  // namespace

uint64_t SelfDraftStore::CopyBytes(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits) {
  uint64_t total = 0;
  for (const TensorInfo& t : index.tensors) {
    const auto [layer, role] = SplitLayerName(t.name);
    if (layer < 0 || static_cast<size_t>(layer) >= layer_resident.size() ||
        layer_resident[static_cast<size_t>(layer)]) {
      continue;
    }
    if (!Companion(role)) total += AlignUp(CopiedBytes(t, bits));
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
  s->copied_.assign(n_layers, false);
  s->copies_.resize(n_layers);
  std::vector<uint64_t> layer_bytes(n_layers, 0);  // [n_layers] 0 where resident
  for (size_t l = 0; l < n_layers; ++l) {
    if (layer_resident[l]) continue;
    for (const TensorInfo* t : LayerTensors(index, static_cast<int>(l))) layer_bytes[l] += AlignUp(CopiedBytes(*t, bits));
  }
  std::string key, path;
  if (!cache_dir.empty()) {
    FS_ASSIGN_OR_RETURN(key, SelfDraftCacheKey(index, layer_resident, bits));
    path = SelfDraftCachePath(cache_dir, key, bits);
    s->from_cache_ = ReadSelfDraftCache(path, key, layer_bytes, &s->buffers_).ok();
  }
  const uint64_t total = CopyBytes(index, layer_resident, bits);
  uint64_t done = 0;
  if (!s->from_cache_) s->buffers_.assign(n_layers, {});
  for (size_t l = 0; l < n_layers; ++l) {
    if (layer_resident[l]) continue;
    if (!s->from_cache_) {
      s->buffers_[l].resize(layer_bytes[l]);
      FS_RETURN_IF_ERROR(s->Requantize(static_cast<int>(l), bits, pool));
    }
    s->MapViews(static_cast<int>(l), bits);
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

Status SelfDraftStore::Requantize(int layer, int bits, ThreadPool& pool) {
  const DType draft = DraftDType(bits);
  FS_ASSIGN_OR_RETURN(const LayerWeights* src, base_.Acquire(layer));
  std::byte* const buffer = buffers_[static_cast<size_t>(layer)].data();
  uint64_t offset = 0;
  for (const TensorInfo* t : LayerTensors(base_.index(), layer)) {
    const TensorView& in = src->Get(SplitLayerName(t->name).second);
    std::byte* out = buffer + offset;
    if (Requantized(*t)) {
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
      FS_CHECK(!IsMlx(in.dtype), "MLX tensor {} without 32-value blocks", t->name);
      std::copy(in.data, in.data + in.bytes(), out);
    }
    offset += AlignUp(CopiedBytes(*t, bits));
  }
  base_.Release(layer);
  return Status::Ok();
}

void SelfDraftStore::MapViews(int layer, int bits) {
  std::byte* const buffer = buffers_[static_cast<size_t>(layer)].data();
  uint64_t offset = 0;
  for (const TensorInfo* t : LayerTensors(base_.index(), layer)) {
    TensorView view{buffer + offset, Requantized(*t) ? DraftDType(bits) : t->dtype, t->shape};
    copies_[static_cast<size_t>(layer)].Add(SplitLayerName(t->name).second, view);
    offset += AlignUp(CopiedBytes(*t, bits));
  }
}

Result<const LayerWeights*> SelfDraftStore::Acquire(int layer) {
  if (copied_[static_cast<size_t>(layer)]) return &copies_[static_cast<size_t>(layer)];
  return base_.Acquire(layer);
}

void SelfDraftStore::Release(int layer) {
  if (!copied_[static_cast<size_t>(layer)]) base_.Release(layer);
}

}  // namespace flashstream
