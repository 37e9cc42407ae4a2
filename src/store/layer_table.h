// LayerTable: builds the per-layer and global TensorViews of a model whose file bytes are
// all addressable in memory (resident buffer or mapping). Shared by the resident and mmap
// stores. Borrows the base pointers, which must outlive it. Thread-compatible.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "formats/model_index.h"
#include "store/weight_store.h"

namespace flashstream {

class LayerTable {
 public:
  // file_base[f] points at byte `file_origin[f]` of file f.
  LayerTable(const ModelIndex& index, const std::vector<const std::byte*>& file_base,
             const std::vector<uint64_t>& file_origin);
  const TensorView* Global(std::string_view name) const;
  const LayerWeights& Layer(int layer) const { return layers_[static_cast<size_t>(layer)]; }
  int n_layers() const { return static_cast<int>(layers_.size()); }

 private:
  LayerWeights globals_;
  std::vector<LayerWeights> layers_;
};

// Byte range [begin, end) covering every tensor of file `file`.
std::pair<uint64_t, uint64_t> FileDataRange(const ModelIndex& index, int file);

}  // namespace flashstream
