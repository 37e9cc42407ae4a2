#include "formats/model_index.h"

namespace flashstream {

const TensorInfo* ModelIndex::Find(const std::string& name) const {
  for (const TensorInfo& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace flashstream
