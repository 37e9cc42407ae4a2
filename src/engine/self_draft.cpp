#include "engine/self_draft.h"

#include <algorithm>

#include "backend/cpu/quant.h"
#include "core/check.h"
#include "core/mlx_quant.h"

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
                                                              ThreadPool& pool, const ProgressFn& progress) {
  if (bits != 4 && bits != 8) return Errorf("--self-draft takes 4 or 8 bits, got {}", bits);
  const ModelIndex& index = base.index();
  const size_t n_layers = layer_resident.size();
  std::unique_ptr<SelfDraftStore> s(new SelfDraftStore(base));
  s->copied_.assign(n_layers, false);
  s->copies_.resize(n_layers);
  s->buffers_.resize(n_layers);
  const uint64_t total = CopyBytes(index, layer_resident, bits);
  uint64_t done = 0;
  const DType draft = DraftDType(bits);
  for (size_t l = 0; l < n_layers; ++l) {
    if (layer_resident[l]) continue;
    const int layer = static_cast<int>(l);
    // This layer's tensors, from the index (roles and shapes) and the base store (bytes).
    std::vector<const TensorInfo*> tensors;
    uint64_t bytes = 0;
    for (const TensorInfo& t : index.tensors) {
      const auto [tl, role] = SplitLayerName(t.name);
      if (tl != layer || Companion(role)) continue;
      tensors.push_back(&t);
      bytes += AlignUp(CopiedBytes(t, bits));
    }
    FS_ASSIGN_OR_RETURN(const LayerWeights* src, base.Acquire(layer));
    std::vector<std::byte>& buffer = s->buffers_[l];
    buffer.resize(bytes);
    uint64_t offset = 0;
    for (const TensorInfo* t : tensors) {
      const std::string role = SplitLayerName(t->name).second;
      const TensorView& in = src->Get(role);
      std::byte* out = buffer.data() + offset;
      TensorView view{out, in.dtype, in.shape};
      if (Requantized(*t)) {
        view.dtype = draft;
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
      s->copies_[l].Add(role, view);
      offset += AlignUp(view.bytes());
    }
    base.Release(layer);
    s->copied_[l] = true;
    s->copy_bytes_ += bytes;
    done += bytes;
    if (progress) progress(done, total);
  }
  return s;
}

Result<const LayerWeights*> SelfDraftStore::Acquire(int layer) {
  if (copied_[static_cast<size_t>(layer)]) return &copies_[static_cast<size_t>(layer)];
  return base_.Acquire(layer);
}

void SelfDraftStore::Release(int layer) {
  if (!copied_[static_cast<size_t>(layer)]) base_.Release(layer);
}

}  // namespace flashstream
