// The CUDA Backend: validates shapes like the CPU backend, owns the cuBLAS
// handle and device scratch, and enqueues the kernels of kernels.h on one
// stream. MatMul: one token runs the GEMV kernels on the weight bytes as they
// are; several tokens dequantize the weight to f32 in panels of rows (scratch
// <= kPanelFloats) and multiply with cuBLAS SGEMM (f32 inputs, f32
// accumulation: no TF32), so the error stays at f32 accumulation-order level,
// as with the CPU's exact kernels. Backend memory is device memory (cudaMalloc),
// copies are enqueued on the same stream.
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>         // cublasSgemm
#include <cuda_runtime_api.h>  // cudaMemcpyAsync, cudaPointerGetAttributes

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <vector>

#include "backend/cpu/reference_ops.h"  // ref::RopeInvFreq: the inverse frequencies the CPU uses
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_tiers.h"
#include "backend/cuda/prompt_attention.h"
#include "backend/cuda/scratch.h"

namespace flashstream {
namespace {

constexpr int64_t kPanelFloats = int64_t{16} << 20;  // dequantized weight panel: 64 MiB
constexpr int64_t kMaxAttnTokens = 65535;            // grid.y limit of the attention kernel
constexpr int64_t kAttnGemmMinTokens = 32;           // prompts at least this long: attention as GEMMs
constexpr size_t kMaxStepRecordings = 4;             // recorded decode steps kept (one per decoder in use)

std::atomic<uint64_t> g_step_replays{0};  // CudaStepReplays()

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
  CudaBackend(std::optional<cuda::Stream> own, const cuda::Stream* stream, const CudaBackendOptions& options)
      : own_(std::move(own)), stream_(own_ ? &*own_ : stream), options_(options) {
    FS_CUDA_CHECK(cudaSetDevice(stream_->device()));
    FS_CUBLAS_CHECK(cublasCreate(&cublas_));
    FS_CUBLAS_CHECK(cublasSetStream(cublas_, s()));
    FS_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH));  // true f32, never TF32
    if (options_.bf16_activations) {  // a second handle free to use the tensor cores (TF32 for f32 products)
      FS_CUBLAS_CHECK(cublasCreate(&cublas_bf16_));
      FS_CUBLAS_CHECK(cublasSetStream(cublas_bf16_, s()));
      FS_CUBLAS_CHECK(cublasSetMathMode(cublas_bf16_, CUBLAS_TF32_TENSOR_OP_MATH));
    }
  }
  ~CudaBackend() override {
    cublasDestroy(cublas_);
    if (cublas_bf16_ != nullptr) cublasDestroy(cublas_bf16_);
  }

  std::string Name() const override { return options_.bf16_activations ? "cuda-bf16" : "cuda"; }
  const cuda::Stream& stream() const { return *stream_; }

  void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y) override {
    FS_CHECK(w.valid() && (w.shape.rank == 1 || w.shape.rank == 2), "MatMul weight rank {}", w.shape.rank);
    FS_CHECK(w.dtype != DType::kI32 && IsValid(w.dtype), "MatMul weight dtype {}", static_cast<int>(w.dtype));
    FS_CHECK(w.cols() % Info(w.dtype).block_elems == 0, "MatMul: {} inputs is not a whole number of {} blocks",
             w.cols(), flashstream::Name(w.dtype));
    CheckElementAligned(w, "MatMul");
    CheckMlx(w, "MatMul");
    if (n_tok <= 0) return;
    Use();
    const cuda::DeviceWeight dw = Weight(w);
    if (n_tok == 1 || tokenwise_) {
      for (int64_t t = 0; t < n_tok; ++t) Gemv(dw, x + t * dw.n_cols, y + t * dw.n_rows);
      return;
    }
    if (Unrecordable()) return;
    const int64_t n_in = dw.n_cols, n_out = dw.n_rows;
    if (options_.bf16_activations) return MatMulBF16(w, dw, x, n_tok, y);
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
      if (part.scales != nullptr) {
        part.scales += r0 * dw.aux_row_bytes;
        part.biases += r0 * dw.aux_row_bytes;
      }
      cuda::LaunchDequantRows(part, nullptr, rows, panel, s());
      Sgemm(panel, rows, n_in, x, n_tok, y + r0, n_out);
    }
  }

  // y[n_out] = x[n_in] · w^T by the GEMV kernels.
  void Gemv(const cuda::DeviceWeight& dw, const float* x, float* y) {
    if (reinterpret_cast<uintptr_t>(x) % 16 != 0) {  // the GEMV reads x 16 bytes at a time
      auto* copy = static_cast<float*>(x_scratch_.Reserve(static_cast<size_t>(dw.n_cols) * sizeof(float)));
      FS_CUDA_CHECK(
          cudaMemcpyAsync(copy, x, static_cast<size_t>(dw.n_cols) * sizeof(float), cudaMemcpyDeviceToDevice, s()));
      x = copy;
    }
    cuda::LaunchGemv(dw, x, y, s());
  }

  // y[n_tok, n_out] = bf16(x) · bf16(w)^T with f32 accumulation (tensor cores): bf16 weights as
  // they are, others dequantized to f32 panels and rounded to bf16.
  void MatMulBF16(const TensorView& w, const cuda::DeviceWeight& dw, const float* x, int64_t n_tok, float* y) {
    const int64_t n_in = dw.n_cols, n_out = dw.n_rows;
    void* xb = x_bf16_.Reserve(static_cast<size_t>(n_tok * n_in) * 2);
    cuda::LaunchToBF16(x, n_tok * n_in, xb, s());
    if (w.dtype == DType::kBF16) {
      GemmBF16(w.data, n_out, n_in, xb, n_tok, y, n_out);
      return;
    }
    const int64_t panel_rows = std::max<int64_t>(1, std::min(n_out, kPanelFloats / n_in));
    auto* panel = static_cast<float*>(panel_.Reserve(static_cast<size_t>(panel_rows * n_in) * sizeof(float)));
    void* panel_bf16 = panel_bf16_.Reserve(static_cast<size_t>(panel_rows * n_in) * 2);
    for (int64_t r0 = 0; r0 < n_out; r0 += panel_rows) {
      const int64_t rows = std::min(panel_rows, n_out - r0);
      cuda::DeviceWeight part = dw;
      part.data = dw.data + r0 * dw.row_bytes;
      part.n_rows = rows;
      if (part.scales != nullptr) {
        part.scales += r0 * dw.aux_row_bytes;
        part.biases += r0 * dw.aux_row_bytes;
      }
      cuda::LaunchDequantRows(part, nullptr, rows, panel, s());
      cuda::LaunchToBF16(panel, rows * n_in, panel_bf16, s());
      GemmBF16(panel_bf16, rows, n_in, xb, n_tok, y + r0, n_out);
    }
  }

  void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out) override {
    FS_CHECK(table.valid() && table.dtype != DType::kI32, "GetRows: table dtype {}", flashstream::Name(table.dtype));
    CheckElementAligned(table, "GetRows");
    CheckMlx(table, "GetRows");
    if (n <= 0) return;
    Use();
    const int32_t* dev_ids = ids;
    if (!IsDevicePointer(ids)) {
      if (Unrecordable()) return;
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
    const bool device_pos = (recording_ && pos == record_pos_) || IsDevicePointer(pos);
    if (!device_pos && Unrecordable()) return;
    const int32_t* dev_pos = device_pos ? pos : UploadInts(pos, n_tok, pos_scratch_);
    cuda::LaunchRope(x, n_tok, n_heads, head_dim, dev_pos, InvFreq(p), p.rope_dim, p.interleaved, s());
  }

  void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                 int n_kv_heads, int head_dim, float scale, int64_t window, float* out) override {
    FS_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "Attention: {} heads over {} kv heads", n_heads, n_kv_heads);
    FS_CHECK(n_tok <= n_ctx, "Attention: {} queries but {} keys", n_tok, n_ctx);
    FS_CHECK(head_dim > 0 && head_dim <= 256, "Attention: head_dim {} outside (0, 256]", head_dim);
    FS_CHECK(n_tok <= kMaxAttnTokens, "Attention: {} query tokens in one call, at most {}", n_tok, kMaxAttnTokens);
    Use();
    if (n_tok >= kAttnGemmMinTokens && !tokenwise_) {
      if (Unrecordable()) return;
      if (options_.bf16_activations && cuda::LaunchFlashAttentionBF16(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads,
                                                                      head_dim, scale, window, out, s())) {
        return;
      }
      cuda::PromptAttention(options_.bf16_activations ? cublas_bf16_ : cublas_, scores_, s(), q, k, v, n_tok, n_ctx,
                            n_heads, n_kv_heads, head_dim, scale, window, out);
      return;
    }
    cuda::LaunchAttention(q, k, v, n_tok, n_ctx, n_heads, n_kv_heads, head_dim, scale, window, out, s(),
                          recording_ ? record_pos_ : nullptr, record_pos0_);
  }

  void SetTokenwise(bool on) override { tokenwise_ = on; }

  // The tiers of a KV cache whose blocks are in device memory (src/kv with a device).
  void TieredAttention(const TieredAttentionArgs& args) override {
    Use();
    if (Unrecordable()) return;
    if (!tokenwise_) return tiered_.Run(args, s());
    // How the keys split into chunks depends on the query count and the context, so each query
    // runs as a one-token call at its own position.
    const int64_t row = static_cast<int64_t>(args.n_heads) * args.head_dim;
    for (int64_t t = 0; t < args.n_tok; ++t) {
      TieredAttentionArgs one = args;
      one.q = args.q + t * row;
      one.n_tok = 1;
      one.pos0 = args.pos0 + t;
      one.split = args.split + t;
      one.out = args.out + t * row;
      tiered_.Run(one, s());
    }
  }

  void QuantizeKv(const KvBlockLayout& layout, const float* x, int row0, int n, std::byte* block) override {
    FS_CHECK(row0 >= 0 && n >= 0 && row0 + n <= layout.rows, "QuantizeKv: rows {}+{} of {}", row0, n, layout.rows);
    FS_CHECK(
        layout.grouping != KvGrouping::kPerChannel || !IsQuantized(layout.format) || (row0 == 0 && n == layout.rows),
        "QuantizeKv: per-channel blocks are quantized whole ({} rows at {})", n, row0);
    Use();
    if (Unrecordable()) return;
    cuda::LaunchQuantizeKv(cuda::ToDevice(layout), x, row0, n, block, s());
  }

  void RequantizeKv(const KvBlockLayout& from, const std::byte* src, const KvBlockLayout& to, int row0, int n,
                    std::byte* dst) override {
    FS_CHECK(from.width == to.width && row0 >= 0 && n >= 0 && row0 + n <= std::min(from.rows, to.rows),
             "RequantizeKv: rows {}+{} of widths {} and {}", row0, n, from.width, to.width);
    FS_CHECK(to.grouping != KvGrouping::kPerChannel || !IsQuantized(to.format) || (row0 == 0 && n == to.rows),
             "RequantizeKv: per-channel blocks are quantized whole ({} rows at {})", n, row0);
    Use();
    if (Unrecordable()) return;
    cuda::LaunchRequantizeKv(cuda::ToDevice(from), src, cuda::ToDevice(to), row0, n, dst, s());
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

  bool host_memory() const override { return false; }

  Result<void*> Allocate(size_t bytes) override {
    FS_RETURN_IF_ERROR(cuda::SetDevice(stream_->device()));
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (err != cudaSuccess) {
      cudaGetLastError();  // out of memory is not sticky; clear it for the next call
      return Errorf("cudaMalloc of {:.1f} MiB on device {}: {}", bytes / 1048576.0, stream_->device(),
                    cudaGetErrorString(err));
    }
    return p;
  }

  void Free(void* p) override { FS_CUDA_CHECK(cudaFree(p)); }

  void Upload(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || Unrecordable()) return;
    Use();
    // From pageable memory the call returns once `src` has been read.
    FS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s()));
  }

  void Download(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || Unrecordable()) return;
    Use();
    FS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s()));
    FS_CUDA_CHECK(cudaStreamSynchronize(s()));
  }

  void Copy(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    Use();
    if (recording_) return cuda::LaunchShiftedCopy(dst, src, bytes, record_pos_, record_pos0_, s());
    // A copy kernel starts sooner between kernels than a copy-engine transfer (the KV cache
    // writes two small rows per layer and token).
    if ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) % 16 == 0) {
      FS_CUDA_CHECK(cuda::LaunchCopy(dst, src, bytes, s()));
      return;
    }
    FS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s()));
  }

  bool BeginStepRecording(uint64_t key, const int32_t* pos, int32_t pos0) override {
    if (!options_.step_graphs || recording_ || !IsDevicePointer(pos)) return false;
    Use();
    cuda::Graph graph;
    if (!graph.BeginCapture(*stream_).ok()) {
      cudaGetLastError();
      return false;
    }
    recording_ = true;
    record_failed_ = false;
    record_key_ = key;
    record_pos_ = pos;
    record_pos0_ = pos0;
    record_graph_ = std::move(graph);
    return true;
  }

  bool EndStepRecording() override {
    if (!recording_) return false;
    recording_ = false;
    const bool captured = record_graph_.EndCapture(*stream_).ok();
    if (!captured) cudaGetLastError();  // an invalidated capture is not sticky
    cuda::Graph graph = std::move(record_graph_);
    record_graph_ = cuda::Graph();
    if (!captured || record_failed_) return false;
    std::erase_if(steps_, [&](const StepRecording& r) { return r.key == record_key_; });
    if (steps_.size() == kMaxStepRecordings) steps_.erase(steps_.begin());
    steps_.push_back({record_key_, std::move(graph), ScratchGrows()});
    return true;
  }

  bool ReplayStep(uint64_t key) override {
    if (recording_) return false;
    auto it = std::find_if(steps_.begin(), steps_.end(), [&](const StepRecording& r) { return r.key == key; });
    if (it == steps_.end()) return false;
    if (it->scratch_grows != ScratchGrows()) {  // a scratch buffer it writes has moved
      steps_.erase(it);
      return false;
    }
    Use();
    FS_CUDA_CHECK(cudaGetLastError());
    const Status launched = it->graph.Launch(*stream_);
    FS_CHECK(launched.ok(), "CUDA backend: {}", launched.message());
    g_step_replays.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

 private:
  // While recording, an operation that cannot be recorded (host memory involved, or a
  // cuBLAS path that sizes scratch) spoils the recording and is skipped: true then.
  bool Unrecordable() {
    if (!recording_) return false;
    record_failed_ = true;
    return true;
  }

  uint64_t ScratchGrows() const {
    uint64_t n = 0;
    for (const cuda::Scratch* sc :
         {&x_bf16_, &panel_bf16_, &x_scratch_, &panel_, &ids_scratch_, &pos_scratch_, &norm_weight_, &scores_}) {
      n += sc->grows();
    }
    return n;
  }

  cudaStream_t s() const { return static_cast<cudaStream_t>(stream_->handle()); }
  void Use() const { FS_CUDA_CHECK(cudaSetDevice(stream_->device())); }

  // Float weights are read as whole elements; block-quantized ones at any byte
  // address.
  static void CheckElementAligned(const TensorView& w, const char* op) {
    const uintptr_t align = w.dtype == DType::kF32 ? 4 : (w.dtype == DType::kF16 || w.dtype == DType::kBF16) ? 2 : 1;
    FS_CHECK(reinterpret_cast<uintptr_t>(w.data) % align == 0, "{}: {} weight at an address not {}-byte aligned", op,
             flashstream::Name(w.dtype), align);
  }

  // MLX weights need their companions, in groups of whole 32-value items, with each scale and
  // bias at an address aligned to its size.
  static void CheckMlx(const TensorView& w, const char* op) {
    if (!IsMlx(w.dtype)) return;
    FS_CHECK(w.scales != nullptr && w.biases != nullptr && w.group_size > 0 && w.group_size % 32 == 0 &&
                 w.cols() % w.group_size == 0,
             "{}: MLX weight {} without companions or with group size {} (CUDA needs a multiple of 32)", op,
             w.shape.ToString(), w.group_size);
    const uintptr_t align = w.aux_dtype == DType::kF32 ? 4 : 2;
    FS_CHECK(
        (reinterpret_cast<uintptr_t>(w.scales) | reinterpret_cast<uintptr_t>(w.biases) | w.AuxRowBytes()) % align == 0,
        "{}: MLX scales/biases ({}) not {}-byte aligned", op, flashstream::Name(w.aux_dtype), align);
  }

  static cuda::DeviceWeight Weight(const TensorView& w) {
    cuda::DeviceWeight d;
    d.data = reinterpret_cast<const uint8_t*>(w.data);
    d.dtype = w.dtype;
    d.n_rows = w.rows();
    d.n_cols = w.cols();
    d.row_bytes = static_cast<int64_t>(w.row_bytes());
    if (IsMlx(w.dtype)) {
      d.scales = reinterpret_cast<const uint8_t*>(w.scales);
      d.biases = reinterpret_cast<const uint8_t*>(w.biases);
      d.aux_dtype = w.aux_dtype;
      d.group_size = w.group_size;
      d.aux_row_bytes = static_cast<int64_t>(w.AuxRowBytes());
    }
    return d;
  }

  // The device table of inverse frequencies for `p`, made on first use (a model has one or
  // two parameter sets: Gemma 3's local and global layers).
  const float* InvFreq(const RopeParams& p) {
    for (const RopeTable& t : rope_tables_) {
      if (SameRope(t.params, p)) return t.inv_freq.as<float>();
    }
    std::vector<float> inv(static_cast<size_t>(p.rope_dim / 2));
    for (int i = 0; i < p.rope_dim / 2; ++i) inv[static_cast<size_t>(i)] = ref::RopeInvFreq(p, i);
    auto buf = cuda::DeviceBuffer::Allocate(inv.size() * sizeof(float));
    FS_CHECK(buf.ok(), "CUDA backend RoPE table: {}", buf.status().message());
    FS_CUDA_CHECK(cudaMemcpyAsync(buf->data(), inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice, s()));
    FS_CUDA_CHECK(cudaStreamSynchronize(s()));  // `inv` is pageable and about to go away
    rope_tables_.push_back({p, std::move(buf).value()});
    return rope_tables_.back().inv_freq.as<float>();
  }

  // Copies host ints[n] to `scratch` on the stream; the copy from pageable
  // memory has read the source when it returns.
  const int32_t* UploadInts(const int32_t* host, int64_t n, cuda::Scratch& scratch) {
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

  // As Sgemm, with bf16 w and x and f32 accumulation and output.
  void GemmBF16(const void* w, int64_t rows, int64_t n_in, const void* x, int64_t n_tok, float* y, int64_t ldy) {
    const float one = 1.f, zero = 0.f;
    FS_CUBLAS_CHECK(cublasGemmEx(cublas_bf16_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                                 static_cast<int>(n_tok), static_cast<int>(n_in), &one, w, CUDA_R_16BF,
                                 static_cast<int>(n_in), x, CUDA_R_16BF, static_cast<int>(n_in), &zero, y, CUDA_R_32F,
                                 static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  std::optional<cuda::Stream> own_;
  const cuda::Stream* stream_;
  CudaBackendOptions options_;
  cublasHandle_t cublas_ = nullptr;
  cublasHandle_t cublas_bf16_ = nullptr;  // only with bf16_activations
  cuda::Scratch x_bf16_;                  // [n_tok, n_in] bf16 activations
  cuda::Scratch panel_bf16_;              // [panel_rows, n_in] bf16 dequantized weight rows
  cuda::Scratch x_scratch_;               // [n_in] 16-byte aligned copy of a GEMV input
  cuda::Scratch panel_;                   // [panel_rows, n_in] f32 dequantized weight rows
  cuda::Scratch ids_scratch_;             // [n] GetRows ids copied from the host
  cuda::Scratch pos_scratch_;             // [n_tok] Rope positions copied from the host
  cuda::Scratch norm_weight_;             // [n] an f16/bf16 RmsNorm weight widened to f32
  cuda::Scratch scores_;                  // [heads of a pass, n_tok, n_ctx] attention scores, then probabilities
  struct RopeTable {
    RopeParams params;
    cuda::DeviceBuffer inv_freq;  // [rope_dim / 2]
  };
  std::vector<RopeTable> rope_tables_;
  cuda::TieredAttentionRunner tiered_;  // TieredAttention's tables and partial results
  struct StepRecording {
    uint64_t key;
    cuda::Graph graph;
    uint64_t scratch_grows;  // ScratchGrows() when recorded
  };
  std::vector<StepRecording> steps_;  // oldest first
  bool recording_ = false;            // between BeginStepRecording and EndStepRecording
  bool tokenwise_ = false;            // SetTokenwise: one-token kernels per token
  bool record_failed_ = false;        // an operation could not be recorded
  uint64_t record_key_ = 0;
  const int32_t* record_pos_ = nullptr;  // [1] device position of the replayed step
  int32_t record_pos0_ = 0;              // the position the step was recorded at
  cuda::Graph record_graph_;
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend(int device, const CudaBackendOptions& options) {
  auto stream = cuda::Stream::Create(device);
  FS_CHECK(stream.ok(), "CUDA backend on device {}: {}", device, stream.status().message());
  return std::make_unique<CudaBackend>(std::move(stream).value(), nullptr, options);
}

std::unique_ptr<Backend> MakeCudaBackend(const cuda::Stream& stream, const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(std::nullopt, &stream, options);
}

uint64_t CudaStepReplays() { return g_step_replays.load(std::memory_order_relaxed); }

const cuda::Stream& CudaBackendStream(const Backend& backend) {
  const auto* b = dynamic_cast<const CudaBackend*>(&backend);
  FS_CHECK(b != nullptr, "CudaBackendStream: backend {} is not a CUDA backend", backend.Name());
  return b->stream();
}

}  // namespace flashstream
