// The CPU kernel table: one implementation per instruction set (generic C++, AVX-512),
// chosen once by the CPU backend. Kernels work on a caller-given range of rows or tasks
// and never allocate shared state, so the backend can split work statically over threads.
// Every kernel computes each output element with a fixed operation sequence that does not
// depend on the range it was called with, so results are independent of the thread count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/kv_quant.h"  // KvBlockLayout for decode_kv

namespace flashstream::cpu {

// Activations quantized to int8 for the quantized-weight matmul (see ref::QuantizeActivations).
// Views into one caller-owned buffer (Bind); the quantizer also zeroes the padding past n_in.
//
// Levels. With L levels (1..3) each 32-value block is quantized to the integer
// Q = round(x / d) with d = amax / 127 * 2^(-8 (L - 1)), |Q| <= 127 * 256^(L-1), and stored as
// L int8 digits q_1..q_L with Q = sum_l q_l * 256^(L - l) (q_1 in [-127, 127], the others in
// [-128, 127]). One level is llama.cpp's scheme (error up to amax / 254 per value); each level
// divides the error by 256. The kernels take an exact int32 dot product per level and combine
// them in a fixed order (matmul_avx512.cpp), so results stay independent of tiling.
struct QuantizedActs {
  static constexpr int64_t kPadTo = 512;  // values; the kernels' group size
  static constexpr int kMaxLevels = 3;
  int64_t n_tok = 0;
  int64_t n_in = 0;
  int64_t n_pad = 0;        // n_in rounded up to kPadTo
  int levels = 1;
  // Layout of q. Natural: value j at j. Split: within each 128 values (4 blocks of 32),
  // values 0..15 of block k at 16k and values 16..31 at 64 + 16k, matching how Q4_0/Q4_1
  // pack two values per byte.
  bool split = false;
  int8_t* q = nullptr;    // [levels, n_tok, n_pad]  digit l of each value
  float* d = nullptr;     // [n_tok, n_pad / 32]  scale d of each 32 values (the last digit's unit)
  float* cx32 = nullptr;  // [n_tok, n_pad / 32]  d * sum(Q) of each 32 values
  float* cx16 = nullptr;  // [n_tok, n_pad / 16]  d * sum(Q) of each 16 values
  // Split layout only: per 128 values, 16 int32 lanes (4 per block, as the kernels' dot
  // products come out): the block's d in all 4 lanes; -sum(q_l) per level and d * sum(Q) in
  // the first.
  float* lane_d = nullptr;          // [n_tok, n_pad / 8]
  int32_t* lane_negsum = nullptr;   // [levels, n_tok, n_pad / 8]
  float* lane_cx = nullptr;         // [n_tok, n_pad / 8]

  static size_t BytesNeeded(int64_t n_tok, int64_t n_in, int levels = 1);
  // Points the arrays into `mem` (64-byte aligned, BytesNeeded bytes). 1 <= levels <= kMaxLevels.
  void Bind(void* mem, int64_t n_tok, int64_t n_in, bool split_layout, int levels = 1);
  const int8_t* q_row(int64_t t, int level = 0) const { return q + (level * n_tok + t) * n_pad; }
  int8_t* q_row_mut(int64_t t, int level) const { return q + (level * n_tok + t) * n_pad; }
  const float* d_row(int64_t t) const { return d + t * (n_pad / 32); }
  const float* cx32_row(int64_t t) const { return cx32 + t * (n_pad / 32); }
  const float* cx16_row(int64_t t) const { return cx16 + t * (n_pad / 16); }
  const float* lane_d_row(int64_t t) const { return lane_d + t * (n_pad / 8); }
  const int32_t* lane_negsum_row(int64_t t, int level = 0) const {
    return lane_negsum + (level * n_tok + t) * (n_pad / 8);
  }
  const float* lane_cx_row(int64_t t) const { return lane_cx + t * (n_pad / 8); }
};

// One matmul call restricted to output rows [row_begin, row_end): y[t, r] for all tokens t.
struct MatMulArgs {
  const std::byte* w = nullptr;  // [n_out, n_in] in `dtype`, any alignment
  DType dtype = DType::kF32;
  int64_t n_in = 0;
  int64_t n_out = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  int64_t n_tok = 0;
  const float* x = nullptr;             // [n_tok, n_in]; used by F32/F16/BF16
  const QuantizedActs* xq = nullptr;    // used by the quantized dtypes
  float* y = nullptr;                   // [n_tok, n_out]
  // Scratch of the calling thread (64-byte aligned) for partial sums when n_tok > 1.
  float* scratch = nullptr;
  int64_t scratch_floats = 0;
};

// Scratch floats a MatMulArgs needs per thread (the backend allocates this much).
constexpr int64_t kMatMulScratchFloats = 64 * 64 * 16;

// Attention of all heads of n_q query tokens over n_keys keys, continuing an online softmax:
// token i sees keys j with lo[i] <= j < hi[i] (bounds may lie outside [0, n_keys)). Called once
// per run of keys of a task (a tier block, or 64 decoded rows); the backend combines tasks.
struct AttnTask {
  static constexpr int kMaxQueries = 4;
  const float* q = nullptr;   // [n_q, n_heads, head_dim]
  const float* k = nullptr;   // key j at k + j * kv_stride: [n_kv_heads, head_dim]
  const float* v = nullptr;   // value j at v + j * kv_stride
  int64_t kv_stride = 0;
  int64_t n_keys = 0;
  const int64_t* lo = nullptr;                    // [n_q]
  const int64_t* hi = nullptr;                    // [n_q]
  int n_q = 1;                                    // 1..kMaxQueries
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;  // head h reads kv head h / (n_heads / n_kv_heads)
  float scale = 1.f;
  // Per token i and head h, with s_j = scale * q_ih . k_j over the keys it saw so far:
  // max = max_j s_j, sum = sum_j e^(s_j - max), out = sum_j e^(s_j - max) v_j (not normalized).
  // resume: continue from the values these hold; else start from no keys (max -inf, sum 0).
  bool resume = false;
  float* max = nullptr;       // [n_q, n_heads]
  float* sum = nullptr;       // [n_q, n_heads]
  float* out = nullptr;       // [n_q, n_heads, head_dim]
  float* scratch = nullptr;   // AttnScratchFloats(n_heads) floats
};

// Scratch floats one AttnTask needs (both kernel sets).
inline int64_t AttnScratchFloats(int n_heads) {
  return (static_cast<int64_t>(n_heads) * AttnTask::kMaxQueries + 12) * 64;
}

struct MlxMatMulArgs;  // matmul_mlx.h

struct CpuKernels {
  const char* name;
  // Whether matmul wants the activations of a `dtype` weight in the split layout.
  bool (*split_acts)(DType dtype);
  // Quantizes tokens [t_begin, t_end) of x[n_tok, xq.n_in] into xq (bound by the caller).
  void (*quantize_acts)(const float* x, const QuantizedActs& xq, int64_t t_begin, int64_t t_end);
  void (*matmul)(const MatMulArgs& args);
  void (*attend)(const AttnTask& task);
  // Rows row0..row0+n-1 of a KV block into out[n, width] as f32, bitwise equal to
  // DequantizeKvRows (core/kv_quant.h).
  void (*decode_kv)(const KvBlockLayout& layout, const std::byte* block, int row0, int n, float* out);
  // out[n] = x[n] / sqrt(mean(x^2) + eps) * w[n]; out may alias x.
  void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* out);
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  void (*add)(const float* a, const float* b, int64_t n, float* out);
  // Quantized weights with f32 activations (exact mode; operation order in matmul_exact.h).
  // Uses args.x; scratch: ExactScratchFloats(n_in, n_tok) floats, 64-byte aligned, this call's own.
  void (*matmul_exact)(const MatMulArgs& args, float* scratch);
  // MLX affine-quantized weights with f32 activations (operation order in matmul_mlx.h).
  void (*matmul_mlx)(const MlxMatMulArgs& args);
};

const CpuKernels& GenericKernels();
// Precondition: GetCpuFeatures().HasAvx512Kernels().
const CpuKernels& Avx512Kernels();

// The AVX-512 matmul kernels (matmul_avx512.cpp), gathered into Avx512Kernels() by ops_avx512.cpp.
namespace avx512 {
bool SplitActs(DType dtype);
void QuantizeActs(const float* x, const QuantizedActs& xq, int64_t t_begin, int64_t t_end);
void MatMul(const MatMulArgs& args);
// KV block decoding (kv_decode_avx512.cpp).
void DecodeKv(const KvBlockLayout& layout, const std::byte* block, int row0, int n, float* out);
}  // namespace avx512

}  // namespace flashstream::cpu
