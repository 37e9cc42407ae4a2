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
  // MLX dtypes only (IsMlx(dtype)): the companion arrays scales[rows, cols / group_size] and
  // biases[rows, cols / group_size] in aux_dtype (f32, f16 or bf16), borrowed like `data` (the
  // store attaches them; they belong to the same layer). Unused (null, 0) for other dtypes.
  const std::byte* scales = nullptr;
  const std::byte* biases = nullptr;
  DType aux_dtype = DType::kF32;
  int group_size = 0;

  bool valid() const { return data != nullptr; }
  int64_t rows() const { return shape.rank <= 1 ? 1 : shape.elements() / shape[shape.rank - 1]; }
  int64_t cols() const { return shape.rank == 0 ? 0 : shape[shape.rank - 1]; }
  uint64_t row_bytes() const { return RowBytes(dtype, cols()); }
  uint64_t bytes() const { return row_bytes() * static_cast<uint64_t>(rows()); }
  const std::byte* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes(); }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
  // MLX: the first scale / bias of row r (cols / group_size of them, aux_dtype).
  const std::byte* scale_row(int64_t r) const { return scales + AuxRowBytes() * static_cast<uint64_t>(r); }
  const std::byte* bias_row(int64_t r) const { return biases + AuxRowBytes() * static_cast<uint64_t>(r); }
  uint64_t AuxRowBytes() const { return RowBytes(aux_dtype, cols() / (group_size > 0 ? group_size : 1)); }
};

}  // namespace flashstream
