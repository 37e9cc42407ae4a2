// The CUDA Backend: validates shapes like the CPU backend, owns the cuBLAS
// handle and device scratch, and enqueues the kernels of kernels.h on one
// stream. MatMul: one token runs the GEMV kernels on the weight bytes as they
// are; several tokens dequantize the weight to f32 in panels of rows (scratch
// <= kPanelFloats) and multiply with cuBLAS SGEMM (f32 inputs, f32
// accumulation: no TF32), so the error stays at f32 accumulation-order level,
// as with the CPU's exact kernels.
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>         // cublasSgemm
#include <cuda_runtime_api.h>  // cudaMemcpyAsync, cudaPointerGetAttributes

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "backend/cpu/reference_ops.h"  // ref::RopeInvFreq: the inverse frequencies the CPU uses
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace flashstream {
namespace {

constexpr int64_t kPanelFloats = int64_t{16} << 20;  // dequantized weight panel: 64 MiB
constexpr int64_t kMaxAttnTokens = 65535;            // grid.y limit of the attention kernel

// A device scratch buffer that only grows. Growing frees the old memory, which
// cudaFree does only after the device finished using it.
class Scratch {
 public:
  void* Reserve(size_t bytes) {
    if (bytes > buf_.size()) {
      const size_t grown = std::max(bytes, 2 * buf_.size());
      buf_ = cuda::DeviceBuffer();
      auto r = cuda::DeviceBuffer::Allocate(grown);
      FS_CHECK(r.ok(), "CUDA backend scratch: {}", r.status().message());
      buf_ = std::move(r).value();
    }
    return buf_.data();
  }

 private:
  cuda::DeviceBuffer buf_;
};

bool IsDevicePointer(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

bool SameRope(const RopeParams& a, const RopeParams& b) {
  return a.rope_dim == b.rope_dim && a.theta == b.theta && a.interleaved == b.interleaved &&
         a.scale_factor == b.scale_factor && a.low_freq_factor == b.low_freq_factor &&
         a.high_freq_factor == b.high_freq_factor && a.original_context == b.original_context &&
         a.linear_factor == b.linear_factor;
}

class CudaBackend final : public Backend {
 public:
  // Owns `own` when given; otherwise borrows `stream`.
  CudaBackend(std::optional<cuda::Stream> own, const cuda::Stream* stream)
      : own_(std::move(own)), stream_(own_ ? &*own_ : stream) {
    FS_CUDA_CHECK(cudaSetDevice(stream_->device()));
    FS_CUBLAS_CHECK(cublasCreate(&cublas_));
    FS_CUBLAS_CHECK(cublasSetStream(cublas_, s()));
    FS_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH));  // true f32, never TF32
  }
  ~CudaBackend() override { cublasDestroy(cublas_); }

  std::string Name() const override { return "cuda"; }

  void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y) override {
    FS_CHECK(w.valid() && (w.shape.rank == 1 || w.shape.rank == 2), "MatMul weight rank {}", w.shape.rank);
    FS_CHECK(w.dtype != DType::kI32 && IsValid(w.dtype), "MatMul weight dtype {}", static_cast<int>(w.dtype));
    FS_CHECK(w.cols() % Info(w.dtype).block_elems == 0, "MatMul: {} inputs is not a whole number of {} blocks",
             w.cols(), flashstream::Name(w.dtype));
    CheckElementAligned(w, "MatMul");
    if (n_tok <= 0) return;
    Use();
    const cuda::DeviceWeight dw = Weight(w);
    if (n_tok == 1) {
      const float* xa = x;
      if (reinterpret_cast<uintptr_t>(x) % 16 != 0) {  // the GEMV reads x 16 bytes at a time
        auto* copy = static_cast<float*>(x_scratch_.Reserve(static_cast<size_t>(dw.n_cols) * sizeof(float)));
        FS_CUDA_CHECK(
            cudaMemcpyAsync(copy, x, static_cast<size_t>(dw.n_cols) * sizeof(float), cudaMemcpyDeviceToDevice, s()));
        xa = copy;
      }
      cuda::LaunchGemv(dw, xa, y, s());
      return;
    }
    const int64_t n_in = dw.n_cols, n_out = dw.n_rows;
    if (w.dtype == DType::kF32) {
      Sgemm(reinterpret_cast<const float*>(w.data), n_out, n_in, x, n_tok, y, n_out);
      return;
    }
    const int64_t panel_rows = std::max<int64_t>(1, std::min(n_out, kPanelFloats / n_in));
    auto* panel = static_cast<float*>(panel_.Reserve(static_cast<size_t>(panel_rows * n_in) * sizeof(float)));
    for (int64_t r0 = 0; r0 < n_out; r0 += panel_rows) {
      const int64_t rows = std::min(panel_rows, n_out - r0);
      cuda::DeviceWeight part = dw;
      part.data = dw.data + r0 * dw.row_bytes;
      part.n_rows = rows;
      cuda::LaunchDequantRows(part, nullptr, rows, panel, s());
      Sgemm(panel, rows, n_in, x, n_tok, y + r0, n_out);
    }
  }

  void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out) override {
    FS_CHECK(table.valid() && table.dtype != DType::kI32, "GetRows: table dtype {}", flashstream::Name(table.dtype));
    CheckElementAligned(table, "GetRows");
    if (n <= 0) return;
    Use();
    const int32_t* dev_ids = ids;
    if (!IsDevicePointer(ids)) {
      for (int64_t i = 0; i < n; ++i) {
        FS_CHECK(ids[i] >= 0 && ids[i] < table.rows(), "GetRows: id {} outside [0, {})", ids[i], table.rows());
      }
      dev_ids = UploadInts(ids, n, ids_scratch_);
    }
    cuda::LaunchDequantRows(Weight(table), dev_ids, n, out, s());
  }

  void RmsNorm(const float* x, const TensorView& weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
               float* out) override {
    const bool half = weight.dtype == DType::kF16 || weight.dtype == DType::kBF16;
    FS_CHECK((weight.dtype == DType::kF32 || half) && weight.shape.elements() == n,
             "RmsNorm weight {} {}, expected f32, f16 or bf16 [{}]", flashstream::Name(weight.dtype),
             weight.shape.ToString(), n);
    Use();
    const float* w = weight.f32();
    if (half) {  // widened exactly, as the CPU does
      auto* wide = static_cast<float*>(norm_weight_.Reserve(static_cast<size_t>(n) * sizeof(float)));
      cuda::DeviceWeight dw = Weight(weight);
      dw.n_rows = 1;
      dw.n_cols = n;
      dw.row_bytes = static_cast<int64_t>(RowBytes(weight.dtype, n));
      cuda::LaunchDequantRows(dw, nullptr, 1, wide, s());
      w = wide;
    }
    cuda::LaunchRmsNorm(x, w, n_tok, n, eps, weight_offset, out, s());
  }

  void Rope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const RopeParams& p) override {
    FS_CHECK(p.rope_dim > 0 && p.rope_dim % 2 == 0 && p.rope_dim <= head_dim, "Rope: rope_dim {} with head_dim {}",
             p.rope_dim, head_dim);
    if (n_tok <= 0) return;
    Use();
    if (!rope_ || !SameRope(*rope_, p)) {
      std::vector<float> inv(static_cast<size_t>(p.rope_dim / 2));
      for (int i = 0; i < p.rope_dim / 2; ++i) inv[static_cast<size_t>(i)] = ref::RopeInvFreq(p, i);
      void* dst = inv_freq_.Reserve(inv.size() * sizeof(float));
      FS_CUDA_CHECK(cudaMemcpyAsync(dst, inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice, s()));
      FS_CUDA_CHECK(cudaStreamSynchronize(s()));  // `inv` is pageable and about to go away
      rope_ = p;
    }
    const int32_t* dev_pos = IsDevicePointer(pos) ? pos : UploadInts(pos, n_tok, pos_scratch_);
    cuda::LaunchRope(x, n_tok, n_heads, head_dim, dev_pos, static_cast<const float*>(inv_freq_.Reserve(0)), p.rope_dim,
                     p.interleaved, s());
  }

  void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                 int n_kv_heads, int head_dim, float scale, int64_t window, float* out) override {
    FS_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "Attention: {} heads over {} kv heads", n_heads, n_kv_heads);
    FS_CHECK(n_tok <= n_ctx, "Attention: {} queries but {} keys", n_tok, n_ctx);
    FS_CHECK(head_dim > 0 && head_dim <= 256, "Attention: head_dim {} outside (0, 256]", head_dim);
    FS_CHECK(n_tok <= kMaxAttnTokens, "Attention: {} query tokens in one call, at most {}", n_tok, kMaxAttnTokens);
    Use();
    cuda::LaunchAttention(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, head_dim, scale, window, out, s());
  }

  void SwiGlu(const float* gate, const float* up, int64_t n, float* out) override {
    Use();
    cuda::LaunchSwiGlu(gate, up, n, out, s());
  }

  void Add(const float* a, const float* b, int64_t n, float* out) override {
    Use();
    cuda::LaunchAdd(a, b, n, out, s());
  }

  void GeluTanhGlu(const float* gate, const float* up, int64_t n, float* out) override {
    Use();
    cuda::LaunchGeluTanhGlu(gate, up, n, out, s());
  }

  void Scale(const float* x, float factor, int64_t n, float* out) override {
    Use();
    cuda::LaunchScale(x, factor, n, out, s());
  }

  void SoftCap(float* x, int64_t n, float cap) override {
    FS_CHECK(cap > 0.f, "SoftCap: cap {} must be positive", cap);
    Use();
    cuda::LaunchSoftCap(x, n, cap, s());
  }

 private:
  cudaStream_t s() const { return static_cast<cudaStream_t>(stream_->handle()); }
  void Use() const { FS_CUDA_CHECK(cudaSetDevice(stream_->device())); }

  // Float weights are read as whole elements; block-quantized ones at any byte
  // address.
  static void CheckElementAligned(const TensorView& w, const char* op) {
    const uintptr_t align = w.dtype == DType::kF32 ? 4 : (w.dtype == DType::kF16 || w.dtype == DType::kBF16) ? 2 : 1;
    FS_CHECK(reinterpret_cast<uintptr_t>(w.data) % align == 0, "{}: {} weight at an address not {}-byte aligned", op,
             flashstream::Name(w.dtype), align);
  }

  static cuda::DeviceWeight Weight(const TensorView& w) {
    cuda::DeviceWeight d;
    d.data = reinterpret_cast<const uint8_t*>(w.data);
    d.dtype = w.dtype;
    d.n_rows = w.rows();
    d.n_cols = w.cols();
    d.row_bytes = static_cast<int64_t>(w.row_bytes());
    return d;
  }

  // Copies host ints[n] to `scratch` on the stream; the copy from pageable
  // memory has read the source when it returns.
  const int32_t* UploadInts(const int32_t* host, int64_t n, Scratch& scratch) {
    void* dst = scratch.Reserve(static_cast<size_t>(n) * sizeof(int32_t));
    FS_CUDA_CHECK(cudaMemcpyAsync(dst, host, static_cast<size_t>(n) * sizeof(int32_t), cudaMemcpyHostToDevice, s()));
    return static_cast<const int32_t*>(dst);
  }

  // y[n_tok, ldy] (columns [0, rows)) = x[n_tok, n_in] · w[rows, n_in]^T.
  // cuBLAS is column-major: y^T (rows x n_tok, ld ldy) = w (n_in x rows)^T ·
  // x^T (n_in x n_tok).
  void Sgemm(const float* w, int64_t rows, int64_t n_in, const float* x, int64_t n_tok, float* y, int64_t ldy) {
    const float one = 1.f, zero = 0.f;
    FS_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n_tok),
                                static_cast<int>(n_in), &one, w, static_cast<int>(n_in), x, static_cast<int>(n_in),
                                &zero, y, static_cast<int>(ldy)));
  }

  std::optional<cuda::Stream> own_;
  const cuda::Stream* stream_;
  cublasHandle_t cublas_ = nullptr;
  Scratch x_scratch_;    // [n_in] 16-byte aligned copy of a GEMV input
  Scratch panel_;        // [panel_rows, n_in] f32 dequantized weight rows
  Scratch ids_scratch_;  // [n] GetRows ids copied from the host
  Scratch pos_scratch_;  // [n_tok] Rope positions copied from the host
  Scratch inv_freq_;     // [rope_dim / 2] for rope_
  Scratch norm_weight_;  // [n] an f16/bf16 RmsNorm weight widened to f32
  std::optional<RopeParams> rope_;
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend(int device) {
  auto stream = cuda::Stream::Create(device);
  FS_CHECK(stream.ok(), "CUDA backend on device {}: {}", device, stream.status().message());
  return std::make_unique<CudaBackend>(std::move(stream).value(), nullptr);
}

std::unique_ptr<Backend> MakeCudaBackend(const cuda::Stream& stream) {
  return std::make_unique<CudaBackend>(std::nullopt, &stream);
}

}  // namespace flashstream
