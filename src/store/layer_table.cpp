#include "store/layer_table.h"

#include <algorithm>
#include <cstdlib>

#include "core/check.h"

namespace flashstream {

std::pair<int, std::string> SplitLayerName(const std::string& name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.rfind(kPrefix, 0) != 0) return {-1, name};
  size_t dot = name.find('.', kPrefix.size());
  if (dot == std::string::npos) return {-1, name};
  int layer = std::atoi(name.substr(kPrefix.size(), dot - kPrefix.size()).c_str());
  return {layer, name.substr(dot + 1)};
}

const TensorView* LayerWeights::Find(std::string_view role) const {
  for (const auto& [name, view] : tensors_) {
    if (name == role) return &view;
  }
  return nullptr;
}

const TensorView& LayerWeights::Get(std::string_view role) const {
  const TensorView* v = Find(role);
  FS_CHECK(v != nullptr, "layer tensor {} missing (the model must check at load)", role);
  return *v;
}

void LayerWeights::LinkCompanions(const std::vector<const TensorInfo*>& tensors) {
  for (const TensorInfo* t : tensors) {
    if (!IsMlx(t->dtype)) continue;
    const std::string role = SplitLayerName(t->name).second;
    const TensorView* scales = Find(SplitLayerName(t->scales).second);
    const TensorView* biases = Find(SplitLayerName(t->biases).second);
    FS_CHECK(scales != nullptr && biases != nullptr, "{}: companions {} / {} are not in its layer", t->name, t->scales,
             t->biases);
    for (auto& [name, view] : tensors_) {
      if (name != role) continue;
      view.scales = scales->data;
      view.biases = biases->data;
      view.aux_dtype = scales->dtype;
      view.group_size = t->group_size;
    }
  }
}

std::pair<uint64_t, uint64_t> FileDataRange(const ModelIndex& index, int file) {
  uint64_t begin = UINT64_MAX, end = 0;
  for (const TensorInfo& t : index.tensors) {
    if (t.file != file) continue;
    begin = std::min(begin, t.offset);
    end = std::max(end, t.offset + t.bytes);
  }
  if (begin == UINT64_MAX) return {0, 0};
  return {begin, end};
}

LayerTable::LayerTable(const ModelIndex& index, const std::vector<const std::byte*>& file_base,
                       const std::vector<uint64_t>& file_origin)
    : layers_(static_cast<size_t>(index.config.n_layers)) {
  std::vector<const TensorInfo*> global_infos;
  std::vector<std::vector<const TensorInfo*>> layer_infos(layers_.size());
  for (const TensorInfo& t : index.tensors) {
    FS_CHECK(t.file >= 0 && static_cast<size_t>(t.file) < file_base.size(), "file {}", t.file);
    TensorView view;
    view.data = file_base[static_cast<size_t>(t.file)] + (t.offset - file_origin[static_cast<size_t>(t.file)]);
    view.dtype = t.dtype;
    view.shape = t.shape;
    auto [layer, role] = SplitLayerName(t.name);
    if (layer < 0) {
      globals_.Add(role, view);
      global_infos.push_back(&t);
    } else if (layer < index.config.n_layers) {
      layers_[static_cast<size_t>(layer)].Add(role, view);
      layer_infos[static_cast<size_t>(layer)].push_back(&t);
    }
  }
  globals_.LinkCompanions(global_infos);
  for (size_t l = 0; l < layers_.size(); ++l) layers_[l].LinkCompanions(layer_infos[l]);
}

const TensorView* LayerTable::Global(std::string_view name) const { return globals_.Find(name); }

}  // namespace flashstream
