#include "store/extent_map.h"

#include <algorithm>

namespace flashstream {

LayerWeights ExtentMap::Views(const std::byte* buffer) const {
  LayerWeights w;
  std::vector<const TensorInfo*> infos;
  for (const Placement& p : tensors) {
    TensorView v;
    v.data = buffer + p.buffer_offset;
    v.dtype = p.info->dtype;
    v.shape = p.info->shape;
    w.Add(p.role, v);
    infos.push_back(p.info);
  }
  w.LinkCompanions(infos);
  return w;
}

ExtentMap BuildExtentMap(const std::vector<const TensorInfo*>& tensors, uint64_t max_gap) {
  std::vector<const TensorInfo*> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->file != b->file ? a->file < b->file : a->offset < b->offset;
  });
  ExtentMap map;
  // First pass: merged unaligned [begin, end) per file.
  struct Span {
    int file;
    uint64_t begin, end;
  };
  std::vector<Span> spans;
  for (const TensorInfo* t : sorted) {
    if (!spans.empty() && spans.back().file == t->file && t->offset <= spans.back().end + max_gap) {
      spans.back().end = std::max(spans.back().end, t->offset + t->bytes);
    } else {
      spans.push_back({t->file, t->offset, t->offset + t->bytes});
    }
  }
  for (const Span& s : spans) {
    Extent e;
    e.file = s.file;
    e.range = AlignRange(s.begin, s.end - s.begin);
    e.buffer_offset = map.bytes;
    map.bytes += e.range.length;
    map.extents.push_back(e);
  }
  for (const TensorInfo* t : sorted) {
    for (const Extent& e : map.extents) {
      if (e.file == t->file && t->offset >= e.range.begin && t->offset + t->bytes <= e.range.begin + e.range.length) {
        auto [layer, role] = SplitLayerName(t->name);
        map.tensors.push_back({role, t, e.buffer_offset + (t->offset - e.range.begin)});
        break;
      }
    }
  }
  return map;
}

}  // namespace flashstream
