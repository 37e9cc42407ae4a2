// MLX affine quantization (mx.quantize, mode "affine"): the reference packing,
// dequantization and quantization that readers, converters, kernels and tests
// share.
//
// A row of n values is split into groups of G (32, 64 or 128) values; group g
// has a scale s_g and a bias b_g, and value j of the group is w = q * s_g + b_g
// with q an unsigned b-bit code (b = 4 or 8). Codes form a little-endian bit
// stream per row, stored as uint32 words: value j occupies bits [b * (j %
// (32/b)), +b) of word j / (32/b). Quantization follows MLX's documented
// formula: s = (max - min) / (2^b - 1), b = min, q = round((w - min) / s)
// clamped to [0, 2^b - 1] (a group of equal values would get s = 0; it gets s =
// 1, so q = 0 and w = b exactly). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace flashstream {

// Code j of a packed row (any alignment).
inline uint32_t MlxCode(const std::byte* packed, int bits, int64_t j) {
  const int per_word = 32 / bits;
  const auto* p = reinterpret_cast<const uint8_t*>(packed) + 4 * (j / per_word);
  const uint32_t word = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  return (word >> (bits * (j % per_word))) & ((1u << bits) - 1);
}

// The f32 value of one scale or bias stored as `aux` (f32, f16 or bf16) at
// index i.
float MlxAux(DType aux, const std::byte* p, int64_t i);

// dst[n] = fma(q, s, b) in f32 for one row: packed codes, scales[n/G],
// biases[n/G] in `aux`. This is the value the kernels' GetRows produces.
void MlxDequantizeRow(DType dtype, const std::byte* packed, const std::byte* scales, const std::byte* biases, DType aux,
                      int group_size, float* dst, int64_t n);

// Quantizes src[n] (n % group_size == 0) into packed words (RowBytes(dtype, n)
// bytes) and the n / group_size scales and biases, stored as `aux` (rounded to
// it before the codes are chosen, so the codes fit the stored scale).
void MlxQuantizeRow(DType dtype, const float* src, int group_size, DType aux, std::byte* packed, std::byte* scales,
                    std::byte* biases, int64_t n);

}  // namespace flashstream
