// Backend: the compute operations a model's forward pass is built from.
// Every pointer argument is backend-accessible memory (host memory for the CPU backend).
// Shapes are outermost first: `[n_tok, n_embd]` is n_tok rows of n_embd contiguous floats.
// Weights arrive as TensorViews from the weight store; an operation never asks where a weight
// came from, so a streamed and a resident view of the same bytes give bitwise-equal results.
// Results are deterministic: work is split statically over threads.
// Not thread-safe: one forward pass drives a backend at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "core/kv_quant.h"  // KvBlockLayout of the KV tiers
#include "core/status.h"
#include "core/tensor.h"

namespace flashstream {

class ThreadPool;

// RoPE parameters for one model (see ModelConfig for meaning).
struct RopeParams {
  int rope_dim = 0;  // rotated dims per head (<= head_dim, even)
  float theta = 10000.f;
  bool interleaved = true;   // adjacent pairs (GGUF llama) vs halves (HF)
  float scale_factor = 0.f;  // llama3 scaling; 0 = none
  float low_freq_factor = 1.f;
  float high_freq_factor = 4.f;
  int original_context = 0;
  float linear_factor = 1.f;  // linear scaling: inverse frequencies divided by it; 1 = none
};

// One block of a KV cache tier as TieredAttention reads it: the keys and values of positions
// first..first+n-1 are rows 0..n-1 of the blocks at k and v (layouts in core/kv_quant.h, width
// n_kv_heads * head_dim). Borrowed memory, valid for the call.
struct KvBlockView {
  int64_t first = 0;
  int64_t n = 0;
  KvBlockLayout k_layout, v_layout;
  const std::byte* k = nullptr;
  const std::byte* v = nullptr;
};

// Causal grouped-query attention over a KV cache kept in two tiers (src/kv): query i, at
// position pos0 + i, sees keys max(0, p - window + 1)..p (window 0 = from 0); it reads key j
// from the cold tier when j < split[i] and from the hot tier otherwise. Each tier's blocks are
// in ascending position order and must cover every position some query reads from it.
struct TieredAttentionArgs {
  const float* q = nullptr;  // [n_tok, n_heads, head_dim]
  int64_t n_tok = 0;
  int64_t pos0 = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.f;  // multiplies q.k before the softmax
  int64_t window = 0;
  std::span<const KvBlockView> cold, hot;
  const int64_t* split = nullptr;  // [n_tok]
  float* out = nullptr;            // [n_tok, n_heads, head_dim]
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string Name() const = 0;

  // y[n_tok, n_out] = x[n_tok, n_in] · w[n_out, n_in]^T. Any weight dtype.
  virtual void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y) = 0;
  // out[n, cols] = rows ids[0..n) of table[rows, cols], converted to f32.
  virtual void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out) = 0;
  // out[n_tok, n] = x / sqrt(mean(x^2) + eps) * (weight[n] + weight_offset); out may alias x.
  // weight is f32; weight_offset is 0, or 1 for Gemma checkpoints that store w - 1 (the sum
  // weight + weight_offset is rounded to f32 first, as transformers does).
  virtual void RmsNorm(const float* x, const TensorView& weight, int64_t n_tok, int64_t n, float eps,
                       float weight_offset, float* out) = 0;
  // Rotates x[n_tok, n_heads, head_dim] in place; token i is at position pos[i].
  virtual void Rope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos,
                    const RopeParams& params) = 0;
  // Causal grouped-query attention.
  // q[n_tok, n_heads, head_dim]; k, v[n_ctx, n_kv_heads, head_dim] hold positions 0..n_ctx-1,
  // the last n_tok of which are the queries' own. Query i sees keys 0..n_ctx-n_tok+i.
  // out[n_tok, n_heads, head_dim]. scale multiplies q·k before the softmax.
  // window > 0 limits each query to its last `window` keys (itself included): query i at
  // position p = n_ctx-n_tok+i sees keys max(0, p-window+1)..p; window 0 = no limit.
  virtual void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                         int n_kv_heads, int head_dim, float scale, int64_t window, float* out) = 0;
  // Attention over the tiers of a KV cache (see TieredAttentionArgs) whose blocks are in this
  // backend's memory. The default aborts with a message naming the backend. The CUDA backend
  // needs each tier's blocks to be consecutive blocks of layout.rows positions, the first
  // starting at a multiple of it (as src/kv makes them).
  virtual void TieredAttention(const TieredAttentionArgs& args);
  // KV cache blocks in backend memory (src/kv with a device): QuantizeKvRows of x[n, width]
  // (backend memory) into rows row0..row0+n-1 of `block`, and the same rows of block `src`
  // (layout `from`) converted into `dst` (layout `to`) through f32, codes and scales identical
  // to core/kv_quant.h's quantizer. The defaults run the host functions (host memory).
  virtual void QuantizeKv(const KvBlockLayout& layout, const float* x, int row0, int n, std::byte* block);
  virtual void RequantizeKv(const KvBlockLayout& from, const std::byte* src, const KvBlockLayout& to, int row0, int n,
                            std::byte* dst);
  // out[n] = silu(gate[n]) * up[n]; out may alias gate.
  virtual void SwiGlu(const float* gate, const float* up, int64_t n, float* out) = 0;
  // out[n] = gelu_tanh(gate[n]) * up[n] in f32, gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi)
  // (g + 0.044715 g^3))) as torch's gelu(approximate="tanh"); out may alias gate.
  virtual void GeluTanhGlu(const float* gate, const float* up, int64_t n, float* out) = 0;
  // out[n] = a[n] + b[n]; out may alias a.
  virtual void Add(const float* a, const float* b, int64_t n, float* out) = 0;
  // out[n] = x[n] * s; out may alias x.
  virtual void Scale(const float* x, float s, int64_t n, float* out) = 0;
  // x[n] = cap * tanh(x[n] / cap) in place (Gemma's logit soft-capping); cap > 0.
  virtual void SoftCap(float* x, int64_t n, float cap) = 0;

  // While on, an operation on n tokens gives each token's row the very bits it gets in an
  // operation on that token alone, so that a speculative verification pass (the session turns
  // it on for those) emits exactly what one-token decoding would. The CPU kernels always do
  // (the default no-op); the CUDA backend then runs its one-token kernels once per token
  // instead of its batched GEMMs.
  virtual void SetTokenwise(bool /*on*/) {}

  // Backend memory: what the operations above read and write. The defaults are host memory
  // (the CPU backend); a GPU backend overrides all of them with device memory.
  // True when backend memory is host memory (pointers may be read directly).
  virtual bool host_memory() const { return true; }
  // `bytes` of backend memory, 64-byte aligned (or more); an error when it cannot be had.
  virtual Result<void*> Allocate(size_t bytes);
  // Frees what Allocate returned, once the operations enqueued so far are done with it.
  virtual void Free(void* p);
  // Host -> backend memory, ordered after the operations enqueued so far; `src` may be reused
  // when it returns.
  virtual void Upload(void* dst, const void* src, size_t bytes);
  // Backend -> host memory: waits for the operations enqueued so far, then copies.
  virtual void Download(void* dst, const void* src, size_t bytes);
  // Backend -> backend memory, ordered like an operation.
  virtual void Copy(void* dst, const void* src, size_t bytes);

  // Recorded decode steps (CUDA graphs); the defaults record nothing. Between
  // BeginStepRecording and EndStepRecording the operations are recorded under `key`, not run,
  // as a step taken at position pos0; ReplayStep(key) then runs them at the position p held in
  // device memory pos[0] at replay time, with every Copy destination moved by (p - pos0) * bytes
  // and every Attention's n_ctx by p - pos0 (a KV cache's writes and reads for one token). The
  // caller keys a recording by everything whose address it bakes in, and records only a step
  // whose operations ran once before with the same shapes (so scratch memory is sized).
  // Begin returns false when nothing is being recorded; End returns false when the recording
  // failed (the step must then run directly); Replay returns false when `key` has no usable
  // recording, having run nothing.
  virtual bool BeginStepRecording(uint64_t key, const int32_t* pos, int32_t pos0);
  virtual bool EndStepRecording();
  virtual bool ReplayStep(uint64_t key);
};

// Owns n values of T in a backend's memory. Borrows the backend, which must outlive it.
// Move-only; not thread-safe.
template <typename T>
class BackendArray {
 public:
  BackendArray() = default;
  BackendArray(BackendArray&& o) noexcept
      : backend_(std::exchange(o.backend_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  BackendArray& operator=(BackendArray&& o) noexcept {
    std::swap(backend_, o.backend_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  BackendArray(const BackendArray&) = delete;
  BackendArray& operator=(const BackendArray&) = delete;
  ~BackendArray() { Reset(); }

  // Holds at least n values of `backend`'s memory afterwards; contents are lost when it grows
  // or the backend changes.
  Status Reserve(Backend& backend, size_t n) {
    if (backend_ == &backend && n <= size_) return Status::Ok();
    Reset();
    Result<void*> p = backend.Allocate(n * sizeof(T));
    if (!p.ok()) return p.status();
    backend_ = &backend;
    data_ = static_cast<T*>(*p);
    size_ = n;
    return Status::Ok();
  }
  void Reset() {
    if (data_ != nullptr) backend_->Free(data_);
    data_ = nullptr;
    size_ = 0;
    backend_ = nullptr;
  }
  T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Backend* backend_ = nullptr;
  T* data_ = nullptr;
  size_t size_ = 0;
};

// The CPU backend (AVX-512/VNNI/AMX kernels chosen at run time, portable fallback).
// Borrows `pool`, which must outlive it.
std::unique_ptr<Backend> MakeCpuBackend(ThreadPool& pool);

}  // namespace flashstream
