// Device-side decoding of the GGML block layouts (src/backend/cpu/quant.h): per
// dtype, the block geometry and two views of one "item" (32 consecutive values
// of a block):
//   DotItem:    sum over the item of w[i] * xv[i] (sx = SumX32(xv), given by the caller), f32, scales factored out of
//   the sum (GEMV); DecodeItem: the 32 values, rounded exactly as DequantizeRow
//   computes them (GetRows and
//               the dequantize-then-GEMM path), so GetRows is bitwise equal to
//               the CPU.
// `b` points at a block in shared or global memory; reads assume the alignment
// noted on each trait (the callers stage blocks in 16-byte aligned tiles, where
// it holds).
#pragma once

#include <cuda_fp16.h>  // __half2float, __ushort_as_half

#include <cstdint>

#include "core/dtype.h"

namespace flashstream::cuda {

__device__ __forceinline__ float F16ToF32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float BF16ToF32(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }
__device__ __forceinline__ uint32_t Ld16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ uint32_t Ld32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// float(q) - kBias for 0 <= q < 2^16, exact, in two full-rate instructions (an integer
// conversion runs at a quarter of the rate): 2^23 + q has q in its low mantissa bits.
template <int kBias>
__device__ __forceinline__ float SmallToF32(uint32_t q) {
  return __uint_as_float(0x4B000000u | q) - (8388608.f + static_cast<float>(kBias));
}

// x[0..32) as eight 16-byte loads (shared or global memory); precondition: 16-byte aligned.
__device__ __forceinline__ void LoadX32(const float* x, float (&v)[32]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float4 f = reinterpret_cast<const float4*>(x)[i];
    v[4 * i] = f.x;
    v[4 * i + 1] = f.y;
    v[4 * i + 2] = f.z;
    v[4 * i + 3] = f.w;
  }
}

// sum(xv) as a tree of four chains.
__device__ __forceinline__ float SumX32(const float (&xv)[32]) {
  float p[4] = {};
#pragma unroll
  for (int i = 0; i < 32; ++i) p[i & 3] += xv[i];
  return (p[0] + p[1]) + (p[2] + p[3]);
}

// Sub-block j (0..7) scale and min of a Q4_K/Q5_K block (6 bits each), as
// UnpackQ4KScales.
__device__ __forceinline__ void KScaleMin(const uint8_t* s, int j, float* sc, float* mn) {
  if (j < 4) {
    *sc = static_cast<float>(s[j] & 63);
    *mn = static_cast<float>(s[j + 4] & 63);
  } else {
    *sc = static_cast<float>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *mn = static_cast<float>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Block geometry: bytes and values per block, items (of 32 values) per block, and blocks
// per staging tile (tile bytes are a multiple of 16 and about 1 KiB).
template <DType T>
struct QuantTraits;
template <>
struct QuantTraits<DType::kQ8_0> {  // blocks at even offsets
  static constexpr int kBlockBytes = 34, kBlockElems = 32, kItems = 1, kTileBlocks = 32;
};
template <>
struct QuantTraits<DType::kQ4_0> {  // blocks at even offsets
  static constexpr int kBlockBytes = 18, kBlockElems = 32, kItems = 1, kTileBlocks = 64;
};
template <>
struct QuantTraits<DType::kQ4_1> {  // blocks at 4-byte aligned offsets
  static constexpr int kBlockBytes = 20, kBlockElems = 32, kItems = 1, kTileBlocks = 64;
};
template <>
struct QuantTraits<DType::kQ5_0> {  // blocks at even offsets
  static constexpr int kBlockBytes = 22, kBlockElems = 32, kItems = 1, kTileBlocks = 48;
};
template <>
struct QuantTraits<DType::kQ4_K> {  // blocks at 16-byte aligned offsets
  static constexpr int kBlockBytes = 144, kBlockElems = 256, kItems = 8, kTileBlocks = 8;
};
template <>
struct QuantTraits<DType::kQ5_K> {  // blocks at 16-byte aligned offsets
  static constexpr int kBlockBytes = 176, kBlockElems = 256, kItems = 8, kTileBlocks = 8;
};
template <>
struct QuantTraits<DType::kQ6_K> {  // blocks at even offsets
  static constexpr int kBlockBytes = 210, kBlockElems = 256, kItems = 8, kTileBlocks = 8;
};

template <DType T>
__device__ float DotItem(const uint8_t* b, int s, const float (&xv)[32], float sx);
template <DType T>
__device__ void DecodeItem(const uint8_t* b, int s, float (&v)[32]);

// Q8_0: d, then 32 int8; w = d * q.
template <>
__device__ __forceinline__ float DotItem<DType::kQ8_0>(const uint8_t* b, int, const float (&xv)[32], float sx) {
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint32_t u = Ld16(b + 2 + 2 * i);
    const uint32_t biased = u ^ 0x8080u;  // q + 128 in each byte
    sum[0] = fmaf(SmallToF32<128>(biased & 0xFF), xv[2 * i], sum[0]);
    sum[1] = fmaf(SmallToF32<128>(biased >> 8), xv[2 * i + 1], sum[1]);
  }
  return F16ToF32(static_cast<uint16_t>(Ld16(b))) * (sum[0] + sum[1]);
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ8_0>(const uint8_t* b, int, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
#pragma unroll
  for (int i = 0; i < 32; ++i) v[i] = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(b[2 + i])));
}

// Q4_0: d, then 16 bytes; byte j holds value j (low nibble) and j + 16 (high);
// w = d * (q - 8).
template <>
__device__ __forceinline__ float DotItem<DType::kQ4_0>(const uint8_t* b, int, const float (&xv)[32], float sx) {
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t u = Ld16(b + 2 + 2 * i);
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const uint32_t q = (u >> (8 * k)) & 0xFF;
      sum[0] = fmaf(SmallToF32<8>(q & 0xF), xv[2 * i + k], sum[0]);
      sum[1] = fmaf(SmallToF32<8>(q >> 4), xv[2 * i + k + 16], sum[1]);
    }
  }
  return F16ToF32(static_cast<uint16_t>(Ld16(b))) * (sum[0] + sum[1]);
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ4_0>(const uint8_t* b, int, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = __fmul_rn(d, static_cast<float>(static_cast<int>(b[2 + j] & 0xF) - 8));
    v[j + 16] = __fmul_rn(d, static_cast<float>(static_cast<int>(b[2 + j] >> 4) - 8));
  }
}

// Q4_1: d, m, then 16 bytes as Q4_0; w = d * q + m.
template <>
__device__ __forceinline__ float DotItem<DType::kQ4_1>(const uint8_t* b, int, const float (&xv)[32], float sx) {
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t u = Ld32(b + 4 + 4 * i);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t q = (u >> (8 * k)) & 0xFF;
      sum[0] = fmaf(SmallToF32<0>(q & 0xF), xv[4 * i + k], sum[0]);
      sum[1] = fmaf(SmallToF32<0>(q >> 4), xv[4 * i + k + 16], sum[1]);
    }
  }
  const uint32_t dm = Ld32(b);
  return F16ToF32(static_cast<uint16_t>(dm & 0xFFFF)) * (sum[0] + sum[1]) +
         F16ToF32(static_cast<uint16_t>(dm >> 16)) * sx;
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ4_1>(const uint8_t* b, int, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
  const float m = F16ToF32(static_cast<uint16_t>(Ld16(b + 2)));
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = __fadd_rn(__fmul_rn(d, static_cast<float>(b[4 + j] & 0xF)), m);
    v[j + 16] = __fadd_rn(__fmul_rn(d, static_cast<float>(b[4 + j] >> 4)), m);
  }
}

// Q5_0: d, 4 bytes qh (bit j of the little-endian word: 5th bit of value j), then 16 bytes
// of nibbles as Q4_0; w = d * (q - 16).
__device__ __forceinline__ uint32_t Q5_0High(const uint8_t* b) { return Ld16(b + 2) | (Ld16(b + 4) << 16); }
template <>
__device__ __forceinline__ float DotItem<DType::kQ5_0>(const uint8_t* b, int, const float (&xv)[32], float sx) {
  const uint32_t qh = Q5_0High(b);
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t u = Ld16(b + 6 + 2 * i);
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const int j = 2 * i + k;
      const uint32_t q = (u >> (8 * k)) & 0xFF;
      sum[0] = fmaf(SmallToF32<16>((q & 0xF) | (((qh >> j) & 1) << 4)), xv[j], sum[0]);
      sum[1] = fmaf(SmallToF32<16>((q >> 4) | (((qh >> (j + 16)) & 1) << 4)), xv[j + 16], sum[1]);
    }
  }
  return F16ToF32(static_cast<uint16_t>(Ld16(b))) * (sum[0] + sum[1]);
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ5_0>(const uint8_t* b, int, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
  const uint32_t qh = Q5_0High(b);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int lo = (b[6 + j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
    const int hi = (b[6 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    v[j] = __fmul_rn(d, static_cast<float>(lo - 16));
    v[j + 16] = __fmul_rn(d, static_cast<float>(hi - 16));
  }
}

// Q4_K: d, dmin, 12 bytes of packed 6-bit (scale, min), 128 bytes of nibbles.
// Item s is sub-block s: nibble (s % 2) of qs[32 * (s / 2) + l]; w = d * sc * q
// - dmin * mn.
template <>
__device__ __forceinline__ float DotItem<DType::kQ4_K>(const uint8_t* b, int s, const float (&xv)[32], float sx) {
  const uint8_t* qs = b + 16 + 32 * (s >> 1);
  const int shift = 4 * (s & 1);
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t u = Ld32(qs + 4 * i) >> shift;
#pragma unroll
    for (int k = 0; k < 4; ++k) sum[k & 1] = fmaf(SmallToF32<0>((u >> (8 * k)) & 0xF), xv[4 * i + k], sum[k & 1]);
  }
  float sc, mn;
  KScaleMin(b + 4, s, &sc, &mn);
  const uint32_t dm = Ld32(b);
  return F16ToF32(static_cast<uint16_t>(dm & 0xFFFF)) * sc * (sum[0] + sum[1]) -
         F16ToF32(static_cast<uint16_t>(dm >> 16)) * mn * sx;
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ4_K>(const uint8_t* b, int s, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
  const float dmin = F16ToF32(static_cast<uint16_t>(Ld16(b + 2)));
  float sc, mn;
  KScaleMin(b + 4, s, &sc, &mn);
  const float ds = __fmul_rn(d, sc), dm = __fmul_rn(dmin, mn);
  const uint8_t* qs = b + 16 + 32 * (s >> 1);
  const int shift = 4 * (s & 1);
#pragma unroll
  for (int l = 0; l < 32; ++l) v[l] = __fsub_rn(__fmul_rn(ds, static_cast<float>((qs[l] >> shift) & 0xF)), dm);
}

// Q5_K: as Q4_K plus 32 bytes qh after the scales: bit s of qh[l] is the 5th
// bit of value l of sub-block s; w = d * sc * (q + 16 h) - dmin * mn.
template <>
__device__ __forceinline__ float DotItem<DType::kQ5_K>(const uint8_t* b, int s, const float (&xv)[32], float sx) {
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48 + 32 * (s >> 1);
  const int shift = 4 * (s & 1);
  float sum[2] = {0.f, 0.f};  // two independent fma chains
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t u = Ld32(qs + 4 * i) >> shift;
    const uint32_t h = Ld32(qh + 4 * i) >> s;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t q = ((u >> (8 * k)) & 0xF) | (((h >> (8 * k)) & 1) << 4);
      sum[k & 1] = fmaf(SmallToF32<0>(q), xv[4 * i + k], sum[k & 1]);
    }
  }
  float sc, mn;
  KScaleMin(b + 4, s, &sc, &mn);
  const uint32_t dm = Ld32(b);
  return F16ToF32(static_cast<uint16_t>(dm & 0xFFFF)) * sc * (sum[0] + sum[1]) -
         F16ToF32(static_cast<uint16_t>(dm >> 16)) * mn * sx;
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ5_K>(const uint8_t* b, int s, float (&v)[32]) {
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b)));
  const float dmin = F16ToF32(static_cast<uint16_t>(Ld16(b + 2)));
  float sc, mn;
  KScaleMin(b + 4, s, &sc, &mn);
  const float ds = __fmul_rn(d, sc), dm = __fmul_rn(dmin, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48 + 32 * (s >> 1);
  const int shift = 4 * (s & 1);
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = ((qs[l] >> shift) & 0xF) + 16 * ((qh[l] >> s) & 1);
    v[l] = __fsub_rn(__fmul_rn(ds, static_cast<float>(q)), dm);
  }
}

// Q6_K: ql[128] low nibbles, qh[64] 2-bit highs, int8 scales[16], d. Item s = 4
// * n + k (half n, quarter k) is values 128 n + 32 k + l: nibble (k / 2) of
// ql[64 n + 32 (k % 2) + l], bits 2k of qh[32 n + l], scale scales[8 n + 2 k +
// l / 16]; w = d * sc * (q - 32).
template <>
__device__ __forceinline__ float DotItem<DType::kQ6_K>(const uint8_t* b, int s, const float (&xv)[32], float sx) {
  const int n = s >> 2, k = s & 3;
  const uint8_t* ql = b + 64 * n + 32 * (k & 1);
  const uint8_t* qh = b + 128 + 32 * n;
  const int lshift = 4 * (k >> 1), hshift = 2 * k;
  float sum[2][2] = {};  // [half of the item][even/odd value]: independent fma chains
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint32_t u = Ld16(ql + 2 * i) >> lshift;
    const uint32_t h = Ld16(qh + 2 * i) >> hshift;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const uint32_t q = ((u >> (8 * j)) & 0xF) | (((h >> (8 * j)) & 3) << 4);
      sum[i / 8][j] = fmaf(SmallToF32<32>(q), xv[2 * i + j], sum[i / 8][j]);
    }
  }
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * n + 2 * k);
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b + 208)));
  return d *
         (static_cast<float>(sc[0]) * (sum[0][0] + sum[0][1]) + static_cast<float>(sc[1]) * (sum[1][0] + sum[1][1]));
}
template <>
__device__ __forceinline__ void DecodeItem<DType::kQ6_K>(const uint8_t* b, int s, float (&v)[32]) {
  const int n = s >> 2, k = s & 3;
  const uint8_t* ql = b + 64 * n + 32 * (k & 1);
  const uint8_t* qh = b + 128 + 32 * n;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * n + 2 * k);
  const float d = F16ToF32(static_cast<uint16_t>(Ld16(b + 208)));
  const int lshift = 4 * (k >> 1), hshift = 2 * k;
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = (((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4)) - 32;
    v[l] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[l / 16])), static_cast<float>(q));
  }
}

}  // namespace flashstream::cuda
