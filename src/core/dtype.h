// Element types of weights and activations, with their block layout.
// Quantized types store `block_elems` values in `block_bytes` bytes, laid out exactly as in
// GGUF (ggml) so a streamed file extent is computed on without conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flashstream {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,  // 32 x int8 + f16 scale (34 bytes)
  kQ4_0,  // 32 x 4-bit (offset 8) + f16 scale (18 bytes)
  kQ4_1,  // 32 x 4-bit + f16 scale + f16 min (20 bytes)
  kQ4_K,  // 256-element super-block, 144 bytes
  kQ5_K,  // 256-element super-block, 176 bytes
  kQ6_K,  // 256-element super-block, 210 bytes
  kQ5_0,  // 32 x 5-bit (offset 16): f16 scale + 4 bytes of high bits + 16 of nibbles (22 bytes)
  kI32,
  // MLX affine quantization (mlx-community folders): the row data is the packed uint32 words,
  // values little-end first within each word (value j of a row: bits [b*(j%(32/b)), +b) of word
  // j/(32/b)). Each group of TensorView::group_size values has its own scale and bias in the
  // view's companion arrays: w = q * scale + bias. See core/mlx_quant.h.
  kMlxQ4,  // 8 x 4-bit per uint32 word
  kMlxQ8,  // 4 x 8-bit per uint32 word
  kCount,  // sentinel
};

struct DTypeInfo {
  std::string_view name;  // lower-case, as printed and accepted on the command line
  int block_elems;        // values per block (1 for plain types)
  int block_bytes;        // bytes per block
};

constexpr bool IsValid(DType t) { return static_cast<uint8_t>(t) < static_cast<uint8_t>(DType::kCount); }
const DTypeInfo& Info(DType t);
inline std::string_view Name(DType t) { return Info(t).name; }
bool IsQuantized(DType t);
// kMlxQ4 / kMlxQ8: needs the companion scales and biases of TensorView.
constexpr bool IsMlx(DType t) { return t == DType::kMlxQ4 || t == DType::kMlxQ8; }
// Bits per value of an MLX dtype (4 or 8); precondition: IsMlx(t).
constexpr int MlxBits(DType t) { return t == DType::kMlxQ4 ? 4 : 8; }
// Bytes of `n_elems` values; precondition: n_elems % block_elems == 0.
uint64_t RowBytes(DType t, int64_t n_elems);
std::optional<DType> DTypeFromName(std::string_view name);

}  // namespace flashstream
