// TensorView: a borrowed, read-only view of weight bytes plus dtype and shape.
//
// Shape convention (used everywhere in flashstream): outermost first, as in `[n_tokens, n_embd]`;
// the last dimension is contiguous. A weight matrix is `[n_out, n_in]`: row r holds the n_in
// inputs of output r, stored as RowBytes(dtype, n_in) bytes. (GGUF lists dims innermost first;
// the GGUF reader reverses them.)
// The view does not own memory: the weight store that produced it keeps the bytes valid until
// the layer is released. Copyable; thread-safe for concurrent reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace flashstream {

constexpr int kMaxDims = 4;

struct Shape {
  std::array<int64_t, kMaxDims> dims{};  // outermost first; unused dims are 0
  int rank = 0;

  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  int64_t elements() const;
  std::string ToString() const;  // "[49152, 576]"
  bool operator==(const Shape& o) const;
};

Shape MakeShape(std::initializer_list<int64_t> dims);

struct TensorView {
  const std::byte* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;

  bool valid() const { return data != nullptr; }
  int64_t rows() const { return shape.rank <= 1 ? 1 : shape.elements() / shape[shape.rank - 1]; }
  int64_t cols() const { return shape.rank == 0 ? 0 : shape[shape.rank - 1]; }
  uint64_t row_bytes() const { return RowBytes(dtype, cols()); }
  uint64_t bytes() const { return row_bytes() * static_cast<uint64_t>(rows()); }
  const std::byte* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes(); }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

}  // namespace flashstream
