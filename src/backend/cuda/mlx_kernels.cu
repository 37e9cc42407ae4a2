// MLX affine weights (kMlxQ4, kMlxQ8; core/mlx_quant.h) on the GPU: w = q * scale + bias per
// group, the codes packed little-end first in uint32 words, scales and biases in companion
// arrays. An "item" is 32 consecutive values of a row (16 bytes of codes at 4 bits, 32 at 8);
// groups are whole items (group_size a multiple of 32).
// GEMV: one warp per row; lane l takes items l, l + 32, ...; per item the f32 sums
// d = sum(q * x) and sx = sum(x) fold into the lane's total as fma(d, scale, .) then
// fma(sx, bias, .); the lanes' totals combine with a butterfly, so the operation order is
// fixed whatever the address. Row dequantization: one thread per item, each value
// fma(q, scale, bias) rounded once, as MlxDequantizeRow (bitwise equal to the CPU).
#include <cuda_runtime.h>  // kernel launches

#include <cmath>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"
#include "backend/cuda/quant_decode.cuh"  // F16ToF32, BF16ToF32, SmallToF32, LoadX32

namespace flashstream::cuda {
namespace {

constexpr int kWarps = 8;  // rows per thread block of the GEMV

template <DType kAux>
__device__ __forceinline__ float AuxAt(const uint8_t* row, int64_t g) {
  if constexpr (kAux == DType::kF32) return reinterpret_cast<const float*>(row)[g];
  if constexpr (kAux == DType::kF16) return F16ToF32(reinterpret_cast<const uint16_t*>(row)[g]);
  return BF16ToF32(reinterpret_cast<const uint16_t*>(row)[g]);
}

// The item's codes as 32-bit words: 4 (4-bit) or 8 (8-bit), from loads of kVec bytes (16,
// 4 or 1; the address is a multiple of kVec).
template <int kBits, int kVec>
__device__ __forceinline__ void LoadCodes(const uint8_t* p, uint32_t (&c)[kBits]) {
  if constexpr (kVec == 16) {
#pragma unroll
    for (int i = 0; i < kBits / 4; ++i) {
      const uint4 u = __ldg(reinterpret_cast<const uint4*>(p) + i);
      c[4 * i] = u.x;
      c[4 * i + 1] = u.y;
      c[4 * i + 2] = u.z;
      c[4 * i + 3] = u.w;
    }
  } else if constexpr (kVec == 4) {
#pragma unroll
    for (int i = 0; i < kBits; ++i) c[i] = __ldg(reinterpret_cast<const uint32_t*>(p) + i);
  } else {
#pragma unroll
    for (int i = 0; i < kBits; ++i) {
      c[i] = uint32_t{__ldg(p + 4 * i)} | uint32_t{__ldg(p + 4 * i + 1)} << 8 | uint32_t{__ldg(p + 4 * i + 2)} << 16 |
             uint32_t{__ldg(p + 4 * i + 3)} << 24;
    }
  }
}

// The widest load (16, 4 or 1 bytes) that divides the codes' base address and row stride.
int CodeLoadWidth(const DeviceWeight& w) {
  const uint64_t a = reinterpret_cast<uintptr_t>(w.data) | static_cast<uint64_t>(w.row_bytes);
  return a % 16 == 0 ? 16 : a % 4 == 0 ? 4 : 1;
}

// Code j (0..31) of an item.
template <int kBits>
__device__ __forceinline__ uint32_t CodeAt(const uint32_t (&c)[kBits], int j) {
  constexpr int kPerWord = 32 / kBits;
  return (c[j / kPerWord] >> (kBits * (j % kPerWord))) & ((1u << kBits) - 1);
}

// y[r] = w[r] · x for every row r; x 16-byte aligned.
template <int kBits, DType kAux, int kVec>
__global__ void __launch_bounds__(kWarps * 32)
    MlxGemvKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t n_cols,
                  const uint8_t* __restrict__ scales, const uint8_t* __restrict__ biases, int64_t aux_row_bytes,
                  int group_size, const float* __restrict__ x, float* __restrict__ y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (r >= n_rows) return;
  const uint8_t* row = w + r * row_bytes;
  const uint8_t* srow = scales + r * aux_row_bytes;
  const uint8_t* brow = biases + r * aux_row_bytes;
  const int64_t n_items = n_cols / 32;
  const int items_per_group = group_size / 32;
  float acc = 0.f;
  for (int64_t it = lane; it < n_items; it += 32) {
    uint32_t c[kBits];
    LoadCodes<kBits, kVec>(row + it * (4 * kBits), c);
    float xv[32];
    LoadX32(x + it * 32, xv);
    float d[2] = {0.f, 0.f}, sx[2] = {0.f, 0.f};  // two independent chains each
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      d[j & 1] = fmaf(SmallToF32<0>(CodeAt<kBits>(c, j)), xv[j], d[j & 1]);
      sx[j & 1] += xv[j];
    }
    const int64_t g = it / items_per_group;
    acc = fmaf(d[0] + d[1], AuxAt<kAux>(srow, g), acc);
    acc = fmaf(sx[0] + sx[1], AuxAt<kAux>(brow, g), acc);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[r] = acc;
}

// out[i, :] = values of row ids[i] (or i); one thread per item; an id outside the table
// gives a row of NaN.
template <int kBits, DType kAux, int kVec>
__global__ void MlxRowsKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_table_rows, int64_t n_cols,
                              const uint8_t* __restrict__ scales, const uint8_t* __restrict__ biases,
                              int64_t aux_row_bytes, int group_size, const int32_t* __restrict__ ids, int64_t n,
                              float* __restrict__ out) {
  const int64_t n_items = n_cols / 32;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * n_items) return;
  const int64_t i = idx / n_items, it = idx % n_items;
  const int64_t r = ids != nullptr ? ids[i] : i;
  float* o = out + i * n_cols + it * 32;
  if (r < 0 || r >= n_table_rows) {
    for (int j = 0; j < 32; ++j) o[j] = NAN;
    return;
  }
  uint32_t c[kBits];
  LoadCodes<kBits, kVec>(w + r * row_bytes + it * (4 * kBits), c);
  const int64_t g = it / (group_size / 32);
  const float s = AuxAt<kAux>(scales + r * aux_row_bytes, g);
  const float b = AuxAt<kAux>(biases + r * aux_row_bytes, g);
#pragma unroll
  for (int j = 0; j < 32; ++j) o[j] = __fmaf_rn(static_cast<float>(CodeAt<kBits>(c, j)), s, b);
}

template <int kBits, DType kAux, int kVec>
void GemvFor(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((w.n_rows + kWarps - 1) / kWarps)), block(kWarps * 32);
  MlxGemvKernel<kBits, kAux, kVec><<<grid, block, 0, stream>>>(w.data, w.row_bytes, w.n_rows, w.n_cols, w.scales,
                                                               w.biases, w.aux_row_bytes, w.group_size, x, y);
  FS_CUDA_CHECK_LAUNCH();
}

template <int kBits, DType kAux, int kVec>
void RowsFor(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
  const int64_t total = n * (w.n_cols / 32);
  if (total == 0) return;
  MlxRowsKernel<kBits, kAux, kVec><<<static_cast<unsigned>((total + 127) / 128), 128, 0, stream>>>(
      w.data, w.row_bytes, w.n_rows, w.n_cols, w.scales, w.biases, w.aux_row_bytes, w.group_size, ids, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

// One launch: GEMV (ids, out unused) or row dequantization (x, y unused).
struct MlxCall {
  const DeviceWeight& w;
  const float* x;
  float* y;
  const int32_t* ids;
  int64_t n;
  bool gemv;
  cudaStream_t stream;

  template <int kBits, DType kAux, int kVec>
  void Run() const {
    if (gemv) {
      GemvFor<kBits, kAux, kVec>(w, x, y, stream);
    } else {
      RowsFor<kBits, kAux, kVec>(w, ids, n, y, stream);
    }
  }
  template <int kBits, DType kAux>
  void ByWidth() const {
    switch (CodeLoadWidth(w)) {
      case 16:
        return Run<kBits, kAux, 16>();
      case 4:
        return Run<kBits, kAux, 4>();
      default:
        return Run<kBits, kAux, 1>();
    }
  }
  template <int kBits>
  void ByAux() const {
    switch (w.aux_dtype) {
      case DType::kF32:
        return ByWidth<kBits, DType::kF32>();
      case DType::kF16:
        return ByWidth<kBits, DType::kF16>();
      case DType::kBF16:
        return ByWidth<kBits, DType::kBF16>();
      default:
        FS_CUDA_UNSUPPORTED("CUDA MLX scales", w.aux_dtype);
    }
  }
  void Dispatch() const {
    // Group sizes of 32, 64 and 128 (all MLX writes) pass; the backend checked the companions.
    if (w.group_size <= 0 || w.group_size % 32 != 0 || w.n_cols % w.group_size != 0) {
      FS_CUDA_UNSUPPORTED(gemv ? "CUDA MLX GEMV (group size)" : "CUDA MLX dequantize (group size)", w.dtype);
    }
    if (w.dtype == DType::kMlxQ4) return ByAux<4>();
    return ByAux<8>();
  }
};

}  // namespace

void LaunchMlxGemv(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream) {
  if (w.n_rows == 0) return;
  MlxCall{w, x, y, nullptr, w.n_rows, true, stream}.Dispatch();
}

void LaunchMlxRows(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  MlxCall{w, nullptr, out, ids, n, false, stream}.Dispatch();
}

}  // namespace flashstream::cuda
