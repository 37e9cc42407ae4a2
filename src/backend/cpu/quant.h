// GGML block layouts and the scalar reference (de)quantizers.
// The structs mirror the byte layout of GGUF tensors exactly (little-endian, packed, no
// padding); they may sit at any byte address, so read them through memcpy-safe accessors
// or as bytes. DequantizeRow is the obviously-correct reference the kernels are tested
// against; QuantizeRow produces Q8_0/Q4_0/Q4_1/Q5_0 blocks the way ggml's reference quantizers
// do (for tests and converters). Pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace flashstream {

constexpr int kQK = 32;    // elements per Q8_0/Q4_0/Q4_1 block
constexpr int kQKK = 256;  // elements per K-quant super-block

#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;       // f16 scale
  int8_t qs[kQK];   // w = d * q
};
struct BlockQ4_0 {
  uint16_t d;             // f16 scale
  uint8_t qs[kQK / 2];    // element j: low nibble of qs[j]; element j+16: high nibble; w = d * (q - 8)
};
struct BlockQ4_1 {
  uint16_t d;             // f16 scale
  uint16_t m;             // f16 min
  uint8_t qs[kQK / 2];    // as Q4_0; w = d * q + m
};
struct BlockQ5_0 {
  uint16_t d;             // f16 scale
  uint8_t qh[4];          // bit j of the little-endian u32: 5th bit of element j (0..31)
  uint8_t qs[kQK / 2];    // low 4 bits as Q4_0; w = d * (q - 16)
};
struct BlockQ4_K {
  uint16_t d;             // f16 super-scale of the 6-bit sub-block scales
  uint16_t dmin;          // f16 super-scale of the 6-bit sub-block mins
  uint8_t scales[12];     // 8 (scale, min) pairs of 6 bits, packed (see UnpackQ4KScales)
  uint8_t qs[kQKK / 2];   // 4 chunks of 64: 32 bytes, low nibbles = sub-block 2c, high = 2c+1
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];     // as Q4_K
  uint8_t qh[kQKK / 8];   // bit 2c of qh[l]: 5th bit of element l of sub-block 2c; bit 2c+1: of 2c+1
  uint8_t qs[kQKK / 2];   // low 4 bits, as Q4_K
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];   // low 4 bits
  uint8_t qh[kQKK / 4];   // high 2 bits
  int8_t scales[kQKK / 16];  // one int8 scale per 16 elements
  uint16_t d;             // f16 super-scale; w = d * scale * (q - 32)
};
#pragma pack(pop)

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Sub-block j (0..7) scale and min of a Q4_K/Q5_K super-block, 6 bits each.
void UnpackQ4KScales(const uint8_t scales[12], int j, uint8_t* scale, uint8_t* min);

// dst[n] = the values of one row of `n` elements stored as `dtype` at `src` (any alignment).
// Precondition: n is a multiple of the dtype's block size; dtype is not kI32.
void DequantizeRow(DType dtype, const void* src, float* dst, int64_t n);

// Quantizes src[n] into Q8_0, Q4_0 or Q4_1 blocks at dst (RowBytes(dtype, n) bytes).
// Precondition: dtype is one of those three; n % 32 == 0.
void QuantizeRow(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace flashstream
