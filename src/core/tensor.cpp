#include "core/tensor.h"

#include <fmt/format.h>  // fmt::format for ToString

#include "core/check.h"

namespace flashstream {

int64_t Shape::elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += fmt::format("{}", dims[static_cast<size_t>(i)]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i) {
    if (dims[static_cast<size_t>(i)] != o.dims[static_cast<size_t>(i)]) return false;
  }
  return true;
}

Shape MakeShape(std::initializer_list<int64_t> dims) {
  FS_CHECK(dims.size() <= kMaxDims, "rank {}", dims.size());
  Shape s;
  for (int64_t d : dims) s.dims[static_cast<size_t>(s.rank++)] = d;
  return s;
}

}  // namespace flashstream
