// ExtentMap: where a group of tensors (one layer, or the globals) lies in the files, as few
// large aligned extents, and where each tensor lands once those extents are read back to back
// into one buffer. Plain data; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/model_index.h"
#include "io/direct_reader.h"
#include "store/weight_store.h"

namespace flashstream {

struct Extent {
  int file = 0;
  AlignedRange range;         // aligned file range
  uint64_t buffer_offset = 0; // where it starts in the destination buffer
};

struct ExtentMap {
  std::vector<Extent> extents;
  uint64_t bytes = 0;  // buffer bytes needed (sum of extent lengths)
  struct Placement {
    std::string role;        // name inside the group ("attn_q.weight" or a global's full name)
    const TensorInfo* info;  // borrowed from the ModelIndex
    uint64_t buffer_offset;  // where the tensor's first byte lands
  };
  std::vector<Placement> tensors;

  // Views of every tensor for a buffer holding the extents.
  LayerWeights Views(const std::byte* buffer) const;
};

// Groups `tensors` (pointers into index.tensors) into extents; neighbours closer than
// max_gap bytes share one extent (reading a small gap beats another request).
ExtentMap BuildExtentMap(const std::vector<const TensorInfo*>& tensors, uint64_t max_gap = 1 << 20);

}  // namespace flashstream
