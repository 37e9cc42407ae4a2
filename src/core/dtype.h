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
// Bytes of `n_elems` values; precondition: n_elems % block_elems == 0.
uint64_t RowBytes(DType t, int64_t n_elems);
std::optional<DType> DTypeFromName(std::string_view name);

}  // namespace flashstream
