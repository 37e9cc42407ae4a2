#include "formats/expert_layout.h"

#include <algorithm>
#include <string>
#include <vector>

namespace flashstream {
bool IsRoutedExpert(const std::string& name) {
  for (const char* kind : {".ffn_gate.", ".ffn_up.", ".ffn_down."}) {
    const size_t at = name.find(kind);
    if (at == std::string::npos) continue;
    const size_t digits = at + std::string(kind).size();
    return digits < name.size() && name[digits] >= '0' && name[digits] <= '9';
  }
  return false;
}

ModelIndex WithoutRoutedExperts(const ModelIndex& index) {
  ModelIndex out = index;
  out.tensors.clear();
  for (const TensorInfo& t : index.tensors) {
    if (!IsRoutedExpert(t.name)) out.tensors.push_back(t);
  }
  return out;
}

ExpertLayout MeasureExperts(const ModelIndex& index) {
  ExpertLayout out;
  const ModelConfig& c = index.config;
  if (c.n_expert == 0) return out;
  for (const TensorInfo& t : index.tensors) {
    if (IsRoutedExpert(t.name)) {
      out.routed_bytes += t.bytes;
    } else if (t.name != "token_embd.weight") {
      out.shared_bytes += t.bytes;
    }
  }
  uint64_t embd_row = 0;
  if (const TensorInfo* embd = index.Find("token_embd.weight"); embd != nullptr && embd->shape.rank == 2) {
    embd_row = embd->bytes / static_cast<uint64_t>(std::max<int64_t>(1, embd->shape[0]));
  }
  uint64_t active_experts = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<uint64_t> sizes;
    for (int e = 0; e < c.n_expert; ++e) {
      std::vector<const TensorInfo*> parts;
      for (const char* kind : {"gate", "up", "down"}) {
        const TensorInfo* t =
            index.Find("blk." + std::to_string(l) + ".ffn_" + kind + "." + std::to_string(e) + ".weight");
        if (t != nullptr) parts.push_back(t);
      }
      uint64_t bytes = 0;
      for (const TensorInfo* t : parts) bytes += t->bytes;
      std::sort(parts.begin(), parts.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->file != b->file ? a->file < b->file : a->offset < b->offset;
      });
      int extents = parts.empty() ? 0 : 1;
      for (size_t i = 1; i < parts.size(); ++i) {
        const TensorInfo& prev = *parts[i - 1];
        if (parts[i]->file != prev.file || parts[i]->offset != prev.offset + prev.bytes) ++extents;
      }
      out.max_extents = std::max(out.max_extents, extents);
      out.expert_bytes = std::max(out.expert_bytes, bytes);
      sizes.push_back(bytes);
    }
    std::sort(sizes.rbegin(), sizes.rend());
    for (int j = 0; j < c.n_expert_used && j < static_cast<int>(sizes.size()); ++j)
      active_experts += sizes[static_cast<size_t>(j)];
  }
  out.active_bytes_per_token = out.shared_bytes + active_experts + embd_row;
  return out;
}

}  // namespace flashstream
