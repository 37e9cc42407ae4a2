// Matrix-vector products (decode) and row dequantization of weights in their
// GGUF block layout, directly on the raw bytes in device memory.
//
// Quantized rows: one warp per row. The warp streams its row in tiles of whole
// blocks (QuantTraits::kTileBlocks, ~1 KiB): each lane loads its share of the
// next tile with the widest loads the row's alignment allows (16 bytes when the
// row starts 16-byte aligned), keeps it in registers while the current tile is
// decoded from the warp's shared-memory copy, then stores it there. Lanes then
// take the tile's 32-value items in turn. Float rows (F32/F16/BF16): one warp
// per row, 16-byte loads four deep. Sums are f32; the warp's partial sums are
// combined with a butterfly, so every output has one fixed operation order.
#include <cuda_runtime.h> // kernel launches

#include <cmath>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"
#include "backend/cuda/quant_decode.cuh"

namespace flashstream::cuda {
namespace {

constexpr int kWarps = 8; // warps (rows) per thread block

template <int kVec> struct VecType;
template <> struct VecType<16> { using T = uint4; };
template <> struct VecType<4> { using T = uint32_t; };
template <> struct VecType<2> { using T = uint16_t; };
template <> struct VecType<1> { using T = uint8_t; };

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// kStore false: y[row] = w[row] · x (rows 0..n_rows). kStore true: out[i] =
// values of row ids[i] (or i), for i in 0..n. Row bytes and the base address
// are multiples of kVec.
template <DType T, int kVec, bool kStore>
__global__ void __launch_bounds__(kWarps * 32)
    QuantRowsKernel(const uint8_t *__restrict__ w, int64_t row_bytes,
                    int64_t n_table_rows, int n_blocks,
                    const int32_t *__restrict__ ids, int64_t n,
                    const float *__restrict__ x, float *__restrict__ y) {
  using Q = QuantTraits<T>;
  using V = typename VecType<kVec>::T;
  constexpr int kTileBytes = Q::kTileBlocks * Q::kBlockBytes;
  static_assert(kTileBytes % 16 == 0, "tiles must keep 16-byte alignment");
  constexpr int kUnits = kTileBytes / kVec;
  constexpr int kPerLane = (kUnits + 31) / 32;
  __shared__ __align__(16) uint8_t smem[kWarps][kTileBytes];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (i >= n)
    return;
  const int64_t n_cols = static_cast<int64_t>(n_blocks) * Q::kBlockElems;
  int64_t r = i;
  if (kStore && ids != nullptr) {
    r = ids[i];
    if (r < 0 || r >= n_table_rows) {
      for (int64_t c = lane; c < n_cols; c += 32)
        y[i * n_cols + c] = NAN;
      return;
    }
  }
  const uint8_t *row = w + r * row_bytes;
  uint8_t *tile = smem[warp];
  const int n_tiles = (n_blocks + Q::kTileBlocks - 1) / Q::kTileBlocks;

  V regs[kPerLane];
  auto load = [&](int t) {
    const int64_t base = static_cast<int64_t>(t) * kTileBytes;
    const int64_t valid =
        min(static_cast<int64_t>(kTileBytes), row_bytes - base);
    const V *src = reinterpret_cast<const V *>(row + base);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int u = lane + 32 * k;
      if (u < kUnits && static_cast<int64_t>(u) * kVec < valid)
        regs[k] = __ldg(src + u);
    }
  };
  const bool aligned_out = (reinterpret_cast<uintptr_t>(y) & 15) == 0;
  float acc = 0.f;
  load(0);
  for (int t = 0; t < n_tiles; ++t) {
    __syncwarp();
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int u = lane + 32 * k;
      if (u < kUnits)
        reinterpret_cast<V *>(tile)[u] = regs[k];
    }
    __syncwarp();
    if (t + 1 < n_tiles)
      load(t + 1);
    const int nb = min(Q::kTileBlocks, n_blocks - t * Q::kTileBlocks);
    for (int item = lane; item < nb * Q::kItems; item += 32) {
      const int b = item / Q::kItems, s = item % Q::kItems;
      const int64_t e =
          (static_cast<int64_t>(t) * Q::kTileBlocks + b) * Q::kBlockElems +
          32 * s;
      const uint8_t *blk = tile + b * Q::kBlockBytes;
      if constexpr (kStore) {
        float v[32];
        DecodeItem<T>(blk, s, v);
        float *o = y + i * n_cols + e;
        if (aligned_out) {
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            reinterpret_cast<float4 *>(o)[j] =
                make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
          }
        } else {
#pragma unroll
          for (int j = 0; j < 32; ++j)
            o[j] = v[j];
        }
      } else {
        acc += DotItem<T>(blk, s, x + e);
      }
    }
  }
  if constexpr (!kStore) {
    acc = WarpSum(acc);
    if (lane == 0)
      y[i] = acc;
  }
}

template <DType T>
__device__ __forceinline__ float FloatAt(const uint8_t *p, int64_t e) {
  if constexpr (T == DType::kF32)
    return reinterpret_cast<const float *>(p)[e];
  if constexpr (T == DType::kF16)
    return F16ToF32(reinterpret_cast<const uint16_t *>(p)[e]);
  return BF16ToF32(reinterpret_cast<const uint16_t *>(p)[e]);
}

// Dot of 16 weight bytes (4 f32 or 8 f16/bf16 values) with the matching x
// values.
template <DType T>
__device__ __forceinline__ float Dot16(const uint4 wv, const float *x) {
  if constexpr (T == DType::kF32) {
    const float4 xv = __ldg(reinterpret_cast<const float4 *>(x));
    return __uint_as_float(wv.x) * xv.x + __uint_as_float(wv.y) * xv.y +
           __uint_as_float(wv.z) * xv.z + __uint_as_float(wv.w) * xv.w;
  } else {
    const float4 a = __ldg(reinterpret_cast<const float4 *>(x));
    const float4 b = __ldg(reinterpret_cast<const float4 *>(x) + 1);
    const uint32_t u[4] = {wv.x, wv.y, wv.z, wv.w};
    const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint16_t lo = static_cast<uint16_t>(u[k] & 0xFFFF),
                     hi = static_cast<uint16_t>(u[k] >> 16);
      const float f0 = T == DType::kF16 ? F16ToF32(lo) : BF16ToF32(lo);
      const float f1 = T == DType::kF16 ? F16ToF32(hi) : BF16ToF32(hi);
      s = fmaf(f0, xs[2 * k], s);
      s = fmaf(f1, xs[2 * k + 1], s);
    }
    return s;
  }
}

// y[row] = w[row] · x for float weights; kVec16: rows start 16-byte aligned.
template <DType T, bool kVec16>
__global__ void __launch_bounds__(kWarps * 32)
    FloatGemvKernel(const uint8_t *__restrict__ w, int64_t row_bytes,
                    int64_t n_rows, int64_t n_cols, const float *__restrict__ x,
                    float *__restrict__ y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (r >= n_rows)
    return;
  const uint8_t *row = w + r * row_bytes;
  float acc = 0.f;
  if constexpr (kVec16) {
    constexpr int kPer = T == DType::kF32 ? 4 : 8; // values per 16 bytes
    const uint4 *src = reinterpret_cast<const uint4 *>(row);
    const int64_t n_units = row_bytes / 16;
    int64_t u = lane;
    for (; u + 96 < n_units;
         u += 128) { // four independent 16-byte loads in flight
      const uint4 w0 = __ldg(src + u), w1 = __ldg(src + u + 32),
                  w2 = __ldg(src + u + 64), w3 = __ldg(src + u + 96);
      acc += Dot16<T>(w0, x + u * kPer);
      acc += Dot16<T>(w1, x + (u + 32) * kPer);
      acc += Dot16<T>(w2, x + (u + 64) * kPer);
      acc += Dot16<T>(w3, x + (u + 96) * kPer);
    }
    for (; u < n_units; u += 32)
      acc += Dot16<T>(__ldg(src + u), x + u * kPer);
  } else {
    for (int64_t e = lane; e < n_cols; e += 32)
      acc = fmaf(FloatAt<T>(row, e), x[e], acc);
  }
  acc = WarpSum(acc);
  if (lane == 0)
    y[r] = acc;
}

// out[i, c] = value c of row ids[i] (or i); one thread per value.
template <DType T>
__global__ void FloatRowsKernel(const uint8_t *__restrict__ w,
                                int64_t row_bytes, int64_t n_table_rows,
                                int64_t n_cols, const int32_t *__restrict__ ids,
                                int64_t n, float *__restrict__ out) {
  const int64_t idx =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * n_cols)
    return;
  const int64_t i = idx / n_cols, c = idx % n_cols;
  const int64_t r = ids != nullptr ? ids[i] : i;
  out[idx] =
      r < 0 || r >= n_table_rows ? NAN : FloatAt<T>(w + r * row_bytes, c);
}

// The widest load (16, 4, 2 or 1 bytes) that divides the base address and the
// row stride.
int LoadWidth(const DeviceWeight &w) {
  const uint64_t a =
      reinterpret_cast<uintptr_t>(w.data) | static_cast<uint64_t>(w.row_bytes);
  for (int v : {16, 4, 2}) {
    if (a % static_cast<uint64_t>(v) == 0)
      return v;
  }
  return 1;
}

int64_t Grid(int64_t rows) { return (rows + kWarps - 1) / kWarps; }

template <DType T, bool kStore>
void LaunchQuant(const DeviceWeight &w, const int32_t *ids, int64_t n,
                 const float *x, float *y, cudaStream_t stream) {
  const int n_blocks = static_cast<int>(w.n_cols / QuantTraits<T>::kBlockElems);
  const dim3 grid(static_cast<unsigned>(Grid(n))), block(kWarps * 32);
  switch (LoadWidth(w)) {
  case 16:
    QuantRowsKernel<T, 16, kStore><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, n_blocks, ids, n, x, y);
    break;
  case 4:
    QuantRowsKernel<T, 4, kStore><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, n_blocks, ids, n, x, y);
    break;
  case 2:
    QuantRowsKernel<T, 2, kStore><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, n_blocks, ids, n, x, y);
    break;
  default:
    QuantRowsKernel<T, 1, kStore><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, n_blocks, ids, n, x, y);
  }
  FS_CUDA_CHECK_LAUNCH();
}

template <DType T>
void LaunchFloatGemv(const DeviceWeight &w, const float *x, float *y,
                     cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(Grid(w.n_rows))), block(kWarps * 32);
  if (LoadWidth(w) == 16) {
    FloatGemvKernel<T, true><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, w.n_cols, x, y);
  } else {
    FloatGemvKernel<T, false><<<grid, block, 0, stream>>>(
        w.data, w.row_bytes, w.n_rows, w.n_cols, x, y);
  }
  FS_CUDA_CHECK_LAUNCH();
}

template <DType T>
void LaunchFloatRows(const DeviceWeight &w, const int32_t *ids, int64_t n,
                     float *out, cudaStream_t stream) {
  const int64_t total = n * w.n_cols;
  if (total == 0)
    return;
  FloatRowsKernel<T>
      <<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
          w.data, w.row_bytes, w.n_rows, w.n_cols, ids, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

} // namespace

void LaunchGemv(const DeviceWeight &w, const float *x, float *y,
                cudaStream_t stream) {
  if (w.n_rows == 0)
    return;
  switch (w.dtype) {
  case DType::kF32:
    return LaunchFloatGemv<DType::kF32>(w, x, y, stream);
  case DType::kF16:
    return LaunchFloatGemv<DType::kF16>(w, x, y, stream);
  case DType::kBF16:
    return LaunchFloatGemv<DType::kBF16>(w, x, y, stream);
  case DType::kQ8_0:
    return LaunchQuant<DType::kQ8_0, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kQ4_0:
    return LaunchQuant<DType::kQ4_0, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kQ4_1:
    return LaunchQuant<DType::kQ4_1, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kQ4_K:
    return LaunchQuant<DType::kQ4_K, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kQ5_K:
    return LaunchQuant<DType::kQ5_K, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kQ6_K:
    return LaunchQuant<DType::kQ6_K, false>(w, nullptr, w.n_rows, x, y, stream);
  case DType::kI32:
  case DType::kCount:
    break;
  }
  FS_CUDA_UNSUPPORTED("CUDA GEMV", w.dtype);
}

void LaunchDequantRows(const DeviceWeight &w, const int32_t *ids, int64_t n,
                       float *out, cudaStream_t stream) {
  if (n == 0)
    return;
  switch (w.dtype) {
  case DType::kF32:
    return LaunchFloatRows<DType::kF32>(w, ids, n, out, stream);
  case DType::kF16:
    return LaunchFloatRows<DType::kF16>(w, ids, n, out, stream);
  case DType::kBF16:
    return LaunchFloatRows<DType::kBF16>(w, ids, n, out, stream);
  case DType::kQ8_0:
    return LaunchQuant<DType::kQ8_0, true>(w, ids, n, nullptr, out, stream);
  case DType::kQ4_0:
    return LaunchQuant<DType::kQ4_0, true>(w, ids, n, nullptr, out, stream);
  case DType::kQ4_1:
    return LaunchQuant<DType::kQ4_1, true>(w, ids, n, nullptr, out, stream);
  case DType::kQ4_K:
    return LaunchQuant<DType::kQ4_K, true>(w, ids, n, nullptr, out, stream);
  case DType::kQ5_K:
    return LaunchQuant<DType::kQ5_K, true>(w, ids, n, nullptr, out, stream);
  case DType::kQ6_K:
    return LaunchQuant<DType::kQ6_K, true>(w, ids, n, nullptr, out, stream);
  case DType::kI32:
  case DType::kCount:
    break;
  }
  FS_CUDA_UNSUPPORTED("CUDA dequantize", w.dtype);
}

} // namespace flashstream::cuda
