// Matrix-vector products (decode) and row dequantization of weights in their GGUF block
// layout, directly on the raw bytes in device memory.
//
// Quantized rows: a persistent grid; each warp takes rows (two at once for the GEMV) and
// streams them in tiles of whole blocks (QuantTraits::kTileBlocks, ~1 KiB per row). With
// 4- or 16-byte aligned rows the next tile (of these rows or the warp's next ones) is copied
// by cp.async into the second of two shared-memory buffers while the current one is
// decoded; narrower rows go through registers. Lanes take the tile's 32-value items in
// turn, reading x from a padded shared-memory copy (one x read serves both rows).
// Float rows (F32/F16/BF16): one warp per row, 16-byte loads four deep. Sums are f32; a
// warp's partial sums are combined with a butterfly, so every output has one fixed
// operation order whatever the weight's address.
#include <cuda_pipeline.h>  // __pipeline_memcpy_async: global -> shared copies without registers
#include <cuda_runtime.h>   // kernel launches

#include <algorithm>
#include <cmath>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch_check.h"
#include "backend/cuda/quant_decode.cuh"

namespace flashstream::cuda {
namespace {

constexpr int kWarps = 8;  // warps (rows) per thread block

template <int kVec>
struct VecType;
template <>
struct VecType<16> {
  using T = uint4;
};
template <>
struct VecType<4> {
  using T = uint32_t;
};
template <>
struct VecType<2> {
  using T = uint16_t;
};
template <>
struct VecType<1> {
  using T = uint8_t;
};

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// x in shared memory: each group of 32 values (one item) takes kXGroupFloats floats, so the
// 16-byte reads of 32 lanes at consecutive items spread over all banks (4 wavefronts, the
// minimum) instead of all landing in the same 4 banks. Float 32 of a group holds the group's
// sum (SumX32), which the dtypes with a min (Q4_1, Q4_K, Q5_K) need once per item.
constexpr int kXGroupFloats = 36;

// Blocks per SM the register budget is set for: 4 (64 registers) for the cp.async paths
// that fit without spilling, 3 (80) for the K-quant GEMVs, 2 (128) for the register-staged
// narrow loads (checked with -Xptxas -v).
template <DType T, int kVec, bool kStore>
constexpr int kMinBlocks =
    kVec < 4                                                                                     ? 2
    : kStore || T == DType::kQ8_0 || T == DType::kQ4_0 || T == DType::kQ4_1 || T == DType::kQ5_0 ? 4
                                                                                                 : 3;

// Rows a warp works on at once: the GEMV decodes two rows per x load (halving the
// shared-memory reads of x, the kernel's busiest resource); dequantization one.
// (Narrow loads keep one row: their tiles already take many registers.)
template <bool kStore, int kVec>
constexpr int kRowsPerWarp = kStore || kVec < 4 ? 1 : 2;

// kStore false: y[row] = w[row] · x (rows 0..n). kStore true: out[i] = values of row ids[i]
// (or i), for i in 0..n. Row bytes and the base address are multiples of kVec. Dynamic
// shared memory: kWarps * kRows tiles, then (x_shared) x[n_cols / 32][kXGroupFloats].
template <DType T, int kVec, bool kStore>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<T, kVec, kStore>)
    QuantRowsKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_table_rows, int n_blocks,
                    const int32_t* __restrict__ ids, int64_t n, const float* __restrict__ x, bool x_shared,
                    float* __restrict__ y) {
  using Q = QuantTraits<T>;
  using V = typename VecType<kVec>::T;
  constexpr int kRows = kRowsPerWarp<kStore, kVec>;
  constexpr int kTileBlocks = Q::kTileBlocks;
  constexpr bool kAsync = kVec >= 4;  // cp.async into two shared buffers, else via registers
  constexpr int kBufs = kAsync ? 2 : 1;
  constexpr int kTileBytes = kTileBlocks * Q::kBlockBytes;
  static_assert(kTileBytes % 16 == 0, "tiles must keep 16-byte alignment");
  constexpr int kUnits = kTileBytes / kVec;
  constexpr int kPerLane = (kUnits + 31) / 32;
  extern __shared__ __align__(16) uint8_t smem[];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t n_cols = static_cast<int64_t>(n_blocks) * Q::kBlockElems;
  const float* xs = x;
  if (!kStore && x_shared) {
    float* sx = reinterpret_cast<float*>(smem + kWarps * kBufs * kRows * kTileBytes);
    for (int64_t q = threadIdx.x; q < n_cols / 4; q += kWarps * 32) {  // q: 16-byte chunk of x
      *reinterpret_cast<float4*>(sx + (q / 8) * kXGroupFloats + (q % 8) * 4) =
          __ldg(reinterpret_cast<const float4*>(x) + q);
    }
    __syncthreads();
    for (int64_t grp = threadIdx.x; grp < n_cols / 32; grp += kWarps * 32) {  // the sums in the padding
      float v[32];
      LoadX32(sx + grp * kXGroupFloats, v);
      sx[grp * kXGroupFloats + 32] = SumX32(v);
    }
    __syncthreads();
    xs = sx;
  }
  // Warp gw handles row groups gw, gw + stride, ... (rows kRows g .. kRows g + kRows - 1) as
  // one stream of tiles: the next tiles (of these rows or the next group's) are loaded into
  // registers while the current ones are decoded.
  const int64_t n_groups = (n + kRows - 1) / kRows;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarps;
  int64_t g = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (g >= n_groups) return;
  auto row_of = [&](int64_t k) -> const uint8_t* {  // nullptr: past n, or an id outside the table
    if (k >= n) return nullptr;
    int64_t r = k;
    if (kStore && ids != nullptr) {
      r = ids[k];
      if (r < 0 || r >= n_table_rows) return nullptr;
    }
    return w + r * row_bytes;
  };
  uint8_t* tiles = smem + warp * kBufs * kRows * kTileBytes;
  const int n_tiles = (n_blocks + kTileBlocks - 1) / kTileBlocks;

  // Starts loading tile t of `rows` (async: into buffer buf, as one committed group; else
  // into regs, stored to the tile by the loop).
  V regs[kAsync ? 1 : kRows][kAsync ? 1 : kPerLane] = {};
  auto load = [&](const uint8_t* const(&rows)[kRows], int t, int buf) {
    const int64_t base = static_cast<int64_t>(t) * kTileBytes;
    const int64_t valid = min(static_cast<int64_t>(kTileBytes), row_bytes - base);
#pragma unroll
    for (int j = 0; j < kRows; ++j) {
      if (rows[j] == nullptr) continue;
      const V* src = reinterpret_cast<const V*>(rows[j] + base);
      uint8_t* dst = tiles + (buf * kRows + j) * kTileBytes;
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) {
        const int u = lane + 32 * k;
        if (u < kUnits && static_cast<int64_t>(u) * kVec < valid) {
          if constexpr (kAsync) {
            __pipeline_memcpy_async(dst + u * kVec, src + u, kVec);
          } else {
            regs[j][k] = __ldg(src + u);
          }
        }
      }
    }
    if constexpr (kAsync) __pipeline_commit();
  };
  const bool aligned_out = (reinterpret_cast<uintptr_t>(y) & 15) == 0;
  const uint8_t* rows[kRows];
#pragma unroll
  for (int j = 0; j < kRows; ++j) rows[j] = row_of(g * kRows + j);
  int t = 0, buf = 0;
  load(rows, 0, buf);
  float acc[kRows] = {};
  while (true) {
    if constexpr (kStore) {
      if (rows[0] == nullptr) {  // GetRows of a bad device id: a row of NaN
        for (int64_t c = lane; c < n_cols; c += 32) y[g * n_cols + c] = NAN;
        g += stride;
        if (g >= n_groups) break;
        rows[0] = row_of(g);
        load(rows, 0, buf);
        continue;
      }
    }
    if constexpr (!kAsync) {
      __syncwarp();
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
#pragma unroll
        for (int k = 0; k < kPerLane; ++k) {
          const int u = lane + 32 * k;
          if (u < kUnits) reinterpret_cast<V*>(tiles + j * kTileBytes)[u] = regs[j][k];
        }
      }
      __syncwarp();
    }
    int64_t next_g = g;
    int next_t = t + 1;
    const uint8_t* next_rows[kRows];
#pragma unroll
    for (int j = 0; j < kRows; ++j) next_rows[j] = rows[j];
    if (next_t == n_tiles) {
      next_g = g + stride;
      next_t = 0;
#pragma unroll
      for (int j = 0; j < kRows; ++j) next_rows[j] = next_g < n_groups ? row_of(next_g * kRows + j) : nullptr;
    }
    load(next_rows, next_t, kAsync ? buf ^ 1 : 0);
    if constexpr (kAsync) {
      __pipeline_wait_prior(1);  // all but the group just issued: buffer buf has landed
      __syncwarp();
    }
    const uint8_t* cur = tiles + buf * kRows * kTileBytes;
    const int nb = min(kTileBlocks, n_blocks - t * kTileBlocks);
    for (int item = lane; item < nb * Q::kItems; item += 32) {
      const int b = item / Q::kItems, s = item % Q::kItems;
      const int64_t e = (static_cast<int64_t>(t) * kTileBlocks + b) * Q::kBlockElems + 32 * s;
      if constexpr (kStore) {
        float v[32];
        DecodeItem<T>(cur + b * Q::kBlockBytes, s, v);
        float* o = y + g * n_cols + e;
        if (aligned_out) {
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            reinterpret_cast<float4*>(o)[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
          }
        } else {
#pragma unroll
          for (int j = 0; j < 32; ++j) o[j] = v[j];
        }
      } else {
        float xv[32];
        const float* xg = x_shared ? xs + (e / 32) * kXGroupFloats : x + e;
        LoadX32(xg, xv);
        const float sumx = x_shared ? xg[32] : SumX32(xv);  // used by the dtypes with a min
#pragma unroll
        for (int j = 0; j < kRows; ++j) {
          if (rows[j] != nullptr) acc[j] += DotItem<T>(cur + j * kTileBytes + b * Q::kBlockBytes, s, xv, sumx);
        }
      }
    }
    if (next_t == 0) {  // this group's rows are done
      if constexpr (!kStore) {
#pragma unroll
        for (int j = 0; j < kRows; ++j) {
          const float sum = WarpSum(acc[j]);
          if (lane == 0 && rows[j] != nullptr) y[g * kRows + j] = sum;
          acc[j] = 0.f;
        }
      }
      if (next_g >= n_groups) break;
    }
    if constexpr (kAsync) {
      __syncwarp();  // every lane is done with buffer buf before it is refilled
      buf ^= 1;
    }
    g = next_g;
    t = next_t;
#pragma unroll
    for (int j = 0; j < kRows; ++j) rows[j] = next_rows[j];
  }
}

template <DType T>
__device__ __forceinline__ float FloatAt(const uint8_t* p, int64_t e) {
  if constexpr (T == DType::kF32) return reinterpret_cast<const float*>(p)[e];
  if constexpr (T == DType::kF16) return F16ToF32(reinterpret_cast<const uint16_t*>(p)[e]);
  return BF16ToF32(reinterpret_cast<const uint16_t*>(p)[e]);
}

__device__ __forceinline__ float Lo16(uint32_t u, bool f16) {
  return f16 ? F16ToF32(static_cast<uint16_t>(u & 0xFFFF)) : BF16ToF32(static_cast<uint16_t>(u & 0xFFFF));
}
__device__ __forceinline__ float Hi16(uint32_t u, bool f16) {
  return f16 ? F16ToF32(static_cast<uint16_t>(u >> 16)) : BF16ToF32(static_cast<uint16_t>(u >> 16));
}

// Values per 16 bytes of a float weight row: a GEMV "unit".
template <DType T>
constexpr int kUnitElems = T == DType::kF32 ? 4 : 8;

// The unit's dot with x, as an fma chain from 0 in element order, from one 16-byte load.
template <DType T>
__device__ __forceinline__ float UnitDotVec(const uint4 wv, const float* x) {
  float s = 0.f;
  const float4 a = __ldg(reinterpret_cast<const float4*>(x));
  if constexpr (T == DType::kF32) {
    s = fmaf(__uint_as_float(wv.x), a.x, s);
    s = fmaf(__uint_as_float(wv.y), a.y, s);
    s = fmaf(__uint_as_float(wv.z), a.z, s);
    s = fmaf(__uint_as_float(wv.w), a.w, s);
  } else {
    constexpr bool kF16 = T == DType::kF16;
    const float4 b = __ldg(reinterpret_cast<const float4*>(x) + 1);
    s = fmaf(Lo16(wv.x, kF16), a.x, s);
    s = fmaf(Hi16(wv.x, kF16), a.y, s);
    s = fmaf(Lo16(wv.y, kF16), a.z, s);
    s = fmaf(Hi16(wv.y, kF16), a.w, s);
    s = fmaf(Lo16(wv.z, kF16), b.x, s);
    s = fmaf(Hi16(wv.z, kF16), b.y, s);
    s = fmaf(Lo16(wv.w, kF16), b.z, s);
    s = fmaf(Hi16(wv.w, kF16), b.w, s);
  }
  return s;
}

// The same chain from element loads (rows not 16-byte aligned).
template <DType T>
__device__ __forceinline__ float UnitDotScalar(const uint8_t* row, int64_t e0, const float* x) {
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < kUnitElems<T>; ++j) s = fmaf(FloatAt<T>(row, e0 + j), x[e0 + j], s);
  return s;
}

// y[row] = w[row] · x for float weights, one warp per row. Lane l sums units l, l + 32, ...
// (each an fma chain), then the elements past the last whole unit; the load width (kVec16:
// rows start 16-byte aligned) never changes that order, so any address gives the same bits.
template <DType T, bool kVec16>
__global__ void __launch_bounds__(kWarps * 32)
    FloatGemvKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_rows, int64_t n_cols,
                    const float* __restrict__ x, float* __restrict__ y) {
  constexpr int kE = kUnitElems<T>;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (r >= n_rows) return;
  const uint8_t* row = w + r * row_bytes;
  const int64_t n_units = n_cols / kE;
  float acc = 0.f;
  int64_t u = lane;
  if constexpr (kVec16) {
    const uint4* src = reinterpret_cast<const uint4*>(row);
    for (; u + 96 < n_units; u += 128) {  // four independent 16-byte loads in flight
      const uint4 w0 = __ldg(src + u), w1 = __ldg(src + u + 32), w2 = __ldg(src + u + 64), w3 = __ldg(src + u + 96);
      acc += UnitDotVec<T>(w0, x + u * kE);
      acc += UnitDotVec<T>(w1, x + (u + 32) * kE);
      acc += UnitDotVec<T>(w2, x + (u + 64) * kE);
      acc += UnitDotVec<T>(w3, x + (u + 96) * kE);
    }
    for (; u < n_units; u += 32) acc += UnitDotVec<T>(__ldg(src + u), x + u * kE);
  } else {
    for (; u < n_units; u += 32) acc += UnitDotScalar<T>(row, u * kE, x);
  }
  for (int64_t e = n_units * kE + lane; e < n_cols; e += 32) acc = fmaf(FloatAt<T>(row, e), x[e], acc);
  acc = WarpSum(acc);
  if (lane == 0) y[r] = acc;
}

// out[i, c] = value c of row ids[i] (or i); one thread per value.
template <DType T>
__global__ void FloatRowsKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n_table_rows, int64_t n_cols,
                                const int32_t* __restrict__ ids, int64_t n, float* __restrict__ out) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * n_cols) return;
  const int64_t i = idx / n_cols, c = idx % n_cols;
  const int64_t r = ids != nullptr ? ids[i] : i;
  out[idx] = r < 0 || r >= n_table_rows ? NAN : FloatAt<T>(w + r * row_bytes, c);
}

// The widest load (16, 4, 2 or 1 bytes) that divides the base address and the
// row stride.
int LoadWidth(const DeviceWeight& w) {
  const uint64_t a = reinterpret_cast<uintptr_t>(w.data) | static_cast<uint64_t>(w.row_bytes);
  for (int v : {16, 4, 2}) {
    if (a % static_cast<uint64_t>(v) == 0) return v;
  }
  return 1;
}

int64_t Grid(int64_t rows) { return (rows + kWarps - 1) / kWarps; }

constexpr int64_t kMaxSharedX = 72 << 10;  // bytes of x staged in shared memory, at most

template <DType T, int kVec, bool kStore>
void LaunchQuantVec(const DeviceWeight& w, const int32_t* ids, int64_t n, const float* x, float* y,
                    cudaStream_t stream) {
  using Q = QuantTraits<T>;
  const int n_blocks = static_cast<int>(w.n_cols / Q::kBlockElems);
  const int64_t tile_bytes =
      int64_t{Q::kTileBlocks} * Q::kBlockBytes * kRowsPerWarp<kStore, kVec> * (kVec >= 4 ? 2 : 1);
  const int64_t x_bytes = w.n_cols / 32 * kXGroupFloats * 4;
  const bool x_shared = !kStore && x_bytes <= kMaxSharedX;
  const size_t smem = static_cast<size_t>(kWarps * tile_bytes + (x_shared ? x_bytes : 0));
  auto* kernel = &QuantRowsKernel<T, kVec, kStore>;
  // A persistent grid: as many blocks as fit on the device at once, each warp looping over rows.
  // Setting the shared-memory limit and asking the occupancy cost microseconds of host time,
  // more than a small GEMV runs: both are done once per device and shared-memory size.
  int device = 0, sms = 0, per_sm = 0;
  CheckLaunchResult(cudaGetDevice(&device), __FILE__, __LINE__);
  CheckLaunchResult(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), __FILE__, __LINE__);
  struct Setup {
    int device = -1;
    size_t smem = 0;
    int per_sm = 0;
  };
  static thread_local Setup cached;  // this kernel's last launch setup on this thread
  if (cached.device == device && cached.smem == smem) {
    per_sm = cached.per_sm;
  } else {
    if (smem > (48 << 10)) {
      CheckLaunchResult(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)), __FILE__,
          __LINE__);
    }
    CheckLaunchResult(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, smem), __FILE__,
                      __LINE__);
    cached = {device, smem, per_sm};
  }
  const int64_t groups = (n + kRowsPerWarp<kStore, kVec> - 1) / kRowsPerWarp<kStore, kVec>;
  const int64_t blocks = std::min<int64_t>(Grid(groups), std::max(1, sms * per_sm));
  kernel<<<static_cast<unsigned>(blocks), kWarps * 32, smem, stream>>>(w.data, w.row_bytes, w.n_rows, n_blocks, ids, n,
                                                                       x, x_shared, y);
  FS_CUDA_CHECK_LAUNCH();
}

template <DType T, bool kStore>
void LaunchQuant(const DeviceWeight& w, const int32_t* ids, int64_t n, const float* x, float* y, cudaStream_t stream) {
  switch (LoadWidth(w)) {
    case 16:
      return LaunchQuantVec<T, 16, kStore>(w, ids, n, x, y, stream);
    case 4:
      return LaunchQuantVec<T, 4, kStore>(w, ids, n, x, y, stream);
    case 2:
      return LaunchQuantVec<T, 2, kStore>(w, ids, n, x, y, stream);
    default:
      return LaunchQuantVec<T, 1, kStore>(w, ids, n, x, y, stream);
  }
}

template <DType T>
void LaunchFloatGemv(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(Grid(w.n_rows))), block(kWarps * 32);
  if (LoadWidth(w) == 16) {
    FloatGemvKernel<T, true><<<grid, block, 0, stream>>>(w.data, w.row_bytes, w.n_rows, w.n_cols, x, y);
  } else {
    FloatGemvKernel<T, false><<<grid, block, 0, stream>>>(w.data, w.row_bytes, w.n_rows, w.n_cols, x, y);
  }
  FS_CUDA_CHECK_LAUNCH();
}

template <DType T>
void LaunchFloatRows(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
  const int64_t total = n * w.n_cols;
  if (total == 0) return;
  FloatRowsKernel<T><<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(w.data, w.row_bytes, w.n_rows,
                                                                                     w.n_cols, ids, n, out);
  FS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void LaunchGemv(const DeviceWeight& w, const float* x, float* y, cudaStream_t stream) {
  if (w.n_rows == 0) return;
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
    case DType::kQ5_0:
      return LaunchQuant<DType::kQ5_0, false>(w, nullptr, w.n_rows, x, y, stream);
    case DType::kQ4_K:
      return LaunchQuant<DType::kQ4_K, false>(w, nullptr, w.n_rows, x, y, stream);
    case DType::kQ5_K:
      return LaunchQuant<DType::kQ5_K, false>(w, nullptr, w.n_rows, x, y, stream);
    case DType::kQ6_K:
      return LaunchQuant<DType::kQ6_K, false>(w, nullptr, w.n_rows, x, y, stream);
    case DType::kMlxQ4:  // mlx_kernels.cu
    case DType::kMlxQ8:
      return LaunchMlxGemv(w, x, y, stream);
    case DType::kI32:
    case DType::kCount:
      break;
  }
  FS_CUDA_UNSUPPORTED("CUDA GEMV", w.dtype);
}

void LaunchDequantRows(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
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
    case DType::kQ5_0:
      return LaunchQuant<DType::kQ5_0, true>(w, ids, n, nullptr, out, stream);
    case DType::kQ4_K:
      return LaunchQuant<DType::kQ4_K, true>(w, ids, n, nullptr, out, stream);
    case DType::kQ5_K:
      return LaunchQuant<DType::kQ5_K, true>(w, ids, n, nullptr, out, stream);
    case DType::kQ6_K:
      return LaunchQuant<DType::kQ6_K, true>(w, ids, n, nullptr, out, stream);
    case DType::kMlxQ4:  // mlx_kernels.cu
    case DType::kMlxQ8:
      return LaunchMlxRows(w, ids, n, out, stream);
    case DType::kI32:
    case DType::kCount:
      break;
  }
  FS_CUDA_UNSUPPORTED("CUDA dequantize", w.dtype);
}

}  // namespace flashstream::cuda
