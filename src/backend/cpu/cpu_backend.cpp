// The CPU Backend: validates shapes, owns scratch memory, splits work statically over the
// thread pool and calls the kernel table chosen at construction.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul_exact.h"  // ExactScratchFloats
#include "backend/cpu/matmul_mlx.h"    // MLX affine matmul
#include "backend/cpu/quant.h"
#include "backend/cpu/reference_ops.h"
#include "backend/cpu/tiered_attention.h"
#include "core/check.h"
#include "core/cpu_features.h"
#include "core/mlx_quant.h"  // MlxDequantizeRow
#include "core/thread_pool.h"

namespace flashstream {
namespace {

// Element-wise work below this many values runs on the calling thread (fork/join costs more).
constexpr int64_t kMinParallelElems = 1 << 16;

// A growable 64-byte-aligned byte buffer. Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  void* Reserve(size_t bytes) {
    if (bytes > size_) {
      std::free(data_);
      size_ = (bytes + 63) / 64 * 64;
      data_ = std::aligned_alloc(64, size_);
      FS_CHECK(data_ != nullptr, "out of memory allocating {} bytes of scratch", size_);
    }
    return data_;
  }
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

CpuIsa ResolveIsa(CpuIsa isa) {
  if (isa != CpuIsa::kAuto) return isa;
  const char* env = std::getenv("FS_CPU_ISA");
  if (env != nullptr && *env != '\0') {
    const std::string_view v(env);
    if (v == "generic") return CpuIsa::kGeneric;
    FS_CHECK(v == "avx512", "FS_CPU_ISA={} is not one of generic, avx512", v);
    FS_CHECK(CpuIsaAvailable(CpuIsa::kAvx512), "FS_CPU_ISA=avx512 but this CPU lacks it (has: {})",
             GetCpuFeatures().ToString());
    return CpuIsa::kAvx512;
  }
  return CpuIsaAvailable(CpuIsa::kAvx512) ? CpuIsa::kAvx512 : CpuIsa::kGeneric;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(ThreadPool& pool, const cpu::CpuKernels& kernels, bool int8_activations, int int8_levels)
      : pool_(pool),
        k_(kernels),
        int8_acts_(int8_activations),
        int8_levels_(int8_levels),
        matmul_scratch_(static_cast<size_t>(pool.size())),
        attention_(pool, kernels) {}

  std::string Name() const override {
    std::string name = std::string("cpu-") + k_.name;
    if (int8_acts_) name += int8_levels_ == 1 ? "-int8" : "-int8x" + std::to_string(int8_levels_);
    return name;
  }

  void MatMul(const TensorView& w, const float* x, int64_t n_tok, float* y) override {
    FS_CHECK(w.valid() && (w.shape.rank == 1 || w.shape.rank == 2), "MatMul weight rank {}", w.shape.rank);
    FS_CHECK(w.dtype != DType::kI32, "MatMul weight dtype i32");
    if (n_tok <= 0) return;
    if (IsMlx(w.dtype)) return MatMulMlx(w, x, n_tok, y);
    cpu::MatMulArgs a;
    a.w = w.data;
    a.dtype = w.dtype;
    a.n_in = w.cols();
    a.n_out = w.rows();
    a.n_tok = n_tok;
    a.x = x;
    a.y = y;
    // Q5_0 has no int8-activation kernel: it always takes the exact path.
    if (IsQuantized(w.dtype) && (!int8_acts_ || w.dtype == DType::kQ5_0)) return MatMulExact(a);
    cpu::QuantizedActs xq;
    if (IsQuantized(w.dtype)) {
      xq.Bind(acts_.Reserve(cpu::QuantizedActs::BytesNeeded(n_tok, a.n_in, int8_levels_)), n_tok, a.n_in,
              k_.split_acts(w.dtype), int8_levels_);
      const int64_t tasks = std::min<int64_t>(n_tok, pool_.size());
      pool_.Run(tasks, [&](int64_t task, int) {
        k_.quantize_acts(x, xq, SplitPoint(n_tok, tasks, task), SplitPoint(n_tok, tasks, task + 1));
      });
      a.xq = &xq;
    }
    const int64_t tasks = std::min<int64_t>(a.n_out, pool_.size());
    if (n_tok > 1) {
      for (int64_t t = 0; t < tasks; ++t) {  // allocated here, not inside the tasks
        matmul_scratch_[static_cast<size_t>(t)].Reserve(cpu::kMatMulScratchFloats * sizeof(float));
      }
    }
    pool_.Run(tasks, [&](int64_t task, int) {
      cpu::MatMulArgs part = a;
      part.row_begin = SplitPoint(a.n_out, tasks, task);
      part.row_end = SplitPoint(a.n_out, tasks, task + 1);
      if (n_tok > 1) {
        part.scratch = static_cast<float*>(matmul_scratch_[static_cast<size_t>(task)].data());
        part.scratch_floats = cpu::kMatMulScratchFloats;
      }
      k_.matmul(part);
    });
  }

  void GetRows(const TensorView& table, const int32_t* ids, int64_t n, float* out) override {
    const int64_t cols = table.cols();
    for (int64_t i = 0; i < n; ++i) {
      FS_CHECK(ids[i] >= 0 && ids[i] < table.rows(), "GetRows: id {} outside [0, {})", ids[i], table.rows());
    }
    const int64_t tasks = n * cols >= kMinParallelElems ? std::min<int64_t>(n, pool_.size()) : 1;
    pool_.Run(tasks, [&](int64_t task, int) {
      for (int64_t i = SplitPoint(n, tasks, task); i < SplitPoint(n, tasks, task + 1); ++i) {
        if (IsMlx(table.dtype)) {
          MlxDequantizeRow(table.dtype, table.row(ids[i]), table.scale_row(ids[i]), table.bias_row(ids[i]),
                           table.aux_dtype, table.group_size, out + i * cols, cols);
        } else {
          DequantizeRow(table.dtype, table.row(ids[i]), out + i * cols, cols);
        }
      }
    });
  }

  void RmsNorm(const float* x, const TensorView& weight, int64_t n_tok, int64_t n, float eps, float weight_offset,
               float* out) override {
    const bool half = weight.dtype == DType::kF16 || weight.dtype == DType::kBF16;
    FS_CHECK((weight.dtype == DType::kF32 || half) && weight.shape.elements() == n,
             "RmsNorm weight {} {}, expected f32, f16 or bf16 [{}]", flashstream::Name(weight.dtype),
             weight.shape.ToString(), n);
    const float* w = weight.f32();
    if (half || weight_offset != 0.f) {  // Hugging Face norms in f16/bf16 widen exactly; Gemma's add 1 in f32
      norm_weight_.resize(static_cast<size_t>(n));
      if (half) {
        DequantizeRow(weight.dtype, weight.data, norm_weight_.data(), n);
      } else {
        norm_weight_.assign(w, w + n);
      }
      if (weight_offset != 0.f) {
        for (float& v : norm_weight_) v += weight_offset;
      }
      w = norm_weight_.data();
    }
    const int64_t tasks = n_tok * n >= kMinParallelElems ? std::min<int64_t>(n_tok, pool_.size()) : 1;
    pool_.Run(tasks, [&](int64_t task, int) {
      for (int64_t t = SplitPoint(n_tok, tasks, task); t < SplitPoint(n_tok, tasks, task + 1); ++t) {
        k_.rms_norm(x + t * n, w, n, eps, out + t * n);
      }
    });
  }

  void Rope(float* x, int64_t n_tok, int n_heads, int head_dim, const int32_t* pos, const RopeParams& p) override {
    FS_CHECK(p.rope_dim > 0 && p.rope_dim % 2 == 0 && p.rope_dim <= head_dim, "Rope: rope_dim {} with head_dim {}",
             p.rope_dim, head_dim);
    const int half = p.rope_dim / 2;
    inv_freq_.resize(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) inv_freq_[static_cast<size_t>(i)] = ref::RopeInvFreq(p, i);
    const int64_t tasks = n_tok * n_heads * head_dim >= kMinParallelElems ? std::min<int64_t>(n_tok, pool_.size()) : 1;
    cos_sin_.resize(static_cast<size_t>(tasks * 2 * half));
    pool_.Run(tasks, [&](int64_t task, int) {
      float* cs = cos_sin_.data() + task * 2 * half;
      for (int64_t t = SplitPoint(n_tok, tasks, task); t < SplitPoint(n_tok, tasks, task + 1); ++t) {
        for (int i = 0; i < half; ++i) {
          const float angle = static_cast<float>(pos[t]) * inv_freq_[static_cast<size_t>(i)];
          cs[2 * i] = static_cast<float>(std::cos(static_cast<double>(angle)));
          cs[2 * i + 1] = static_cast<float>(std::sin(static_cast<double>(angle)));
        }
        for (int h = 0; h < n_heads; ++h) RotateHead(x + (t * n_heads + h) * head_dim, cs, half, p.interleaved);
      }
    });
  }

  // The plain op is tiered attention over one f32 hot block holding every key.
  void Attention(const float* q, const float* k, const float* v, int64_t n_tok, int64_t n_ctx, int n_heads,
                 int n_kv_heads, int head_dim, float scale, int64_t window, float* out) override {
    FS_CHECK(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "Attention: {} heads over {} kv heads", n_heads, n_kv_heads);
    FS_CHECK(n_tok <= n_ctx, "Attention: {} queries but {} keys", n_tok, n_ctx);
    FS_CHECK(window >= 0, "Attention: window {}", window);
    KvBlockView all;
    all.n = n_ctx;
    all.k_layout =
        KvBlockLayout{KvFormat::kF32, KvGrouping::kPerToken, n_kv_heads * head_dim, 0, static_cast<int>(n_ctx)};
    all.v_layout = all.k_layout;
    all.k = reinterpret_cast<const std::byte*>(k);
    all.v = reinterpret_cast<const std::byte*>(v);
    attn_split_.assign(static_cast<size_t>(n_tok), 0);
    TieredAttentionArgs a;
    a.q = q;
    a.n_tok = n_tok;
    a.pos0 = n_ctx - n_tok;
    a.n_heads = n_heads;
    a.n_kv_heads = n_kv_heads;
    a.head_dim = head_dim;
    a.scale = scale;
    a.window = window;
    a.hot = std::span<const KvBlockView>(&all, 1);
    a.split = attn_split_.data();
    a.out = out;
    attention_.Run(a);
  }

  void TieredAttention(const TieredAttentionArgs& args) override { attention_.Run(args); }

  void SwiGlu(const float* gate, const float* up, int64_t n, float* out) override {
    ElementWise(n, [&](int64_t b, int64_t e) { k_.swiglu(gate + b, up + b, e - b, out + b); });
  }

  void GeluTanhGlu(const float* gate, const float* up, int64_t n, float* out) override {
    ElementWise(n, [&](int64_t b, int64_t e) { ref::GeluTanhGlu(gate + b, up + b, e - b, out + b); });
  }

  void Add(const float* a, const float* b, int64_t n, float* out) override {
    ElementWise(n, [&](int64_t s, int64_t e) { k_.add(a + s, b + s, e - s, out + s); });
  }

  void Scale(const float* x, float s, int64_t n, float* out) override {
    ElementWise(n, [&](int64_t b, int64_t e) { ref::Scale(x + b, s, e - b, out + b); });
  }

  void SoftCap(float* x, int64_t n, float cap) override {
    FS_CHECK(cap > 0.f, "SoftCap: cap {}", cap);
    ElementWise(n, [&](int64_t b, int64_t e) { ref::SoftCap(x + b, e - b, cap); });
  }

 private:
  void MatMulExact(const cpu::MatMulArgs& a) {
    const int64_t tasks = std::min<int64_t>(a.n_out, pool_.size());
    const size_t per_task = (static_cast<size_t>(cpu::ExactScratchFloats(a.n_in, a.n_tok)) * sizeof(float) + 63) / 64 * 64;
    auto* scratch = static_cast<std::byte*>(exact_scratch_.Reserve(per_task * static_cast<size_t>(tasks)));
    pool_.Run(tasks, [&](int64_t task, int) {
      cpu::MatMulArgs part = a;
      part.row_begin = SplitPoint(a.n_out, tasks, task);
      part.row_end = SplitPoint(a.n_out, tasks, task + 1);
      k_.matmul_exact(part, reinterpret_cast<float*>(scratch + per_task * static_cast<size_t>(task)));
    });
  }

  // MLX weights: group sums of x once, then rows split over the pool (matmul_mlx.h).
  void MatMulMlx(const TensorView& w, const float* x, int64_t n_tok, float* y) {
    FS_CHECK(w.shape.rank == 2 && w.scales != nullptr && w.biases != nullptr && w.group_size > 0 &&
                 w.group_size % 16 == 0 && w.cols() % w.group_size == 0,
             "MatMul: MLX weight {} without companions or with group {}", w.shape.ToString(), w.group_size);
    const int64_t n_in = w.cols(), n_out = w.rows();
    mlx_xsum_.resize(static_cast<size_t>(n_tok * (n_in / w.group_size) * 16));
    cpu::MlxGroupSums(x, n_tok, n_in, w.group_size, mlx_xsum_.data());
    const int64_t tasks = std::min<int64_t>(n_out, pool_.size());
    const size_t per_task = static_cast<size_t>(cpu::MlxScratchFloats(n_in)) * sizeof(float);
    auto* scratch = static_cast<std::byte*>(exact_scratch_.Reserve(per_task * static_cast<size_t>(tasks)));
    pool_.Run(tasks, [&](int64_t task, int) {
      cpu::MlxMatMulArgs a;
      a.w = &w;
      a.row_begin = SplitPoint(n_out, tasks, task);
      a.row_end = SplitPoint(n_out, tasks, task + 1);
      a.n_tok = n_tok;
      a.x = x;
      a.xsum = mlx_xsum_.data();
      a.y = y;
      a.scratch = reinterpret_cast<float*>(scratch + per_task * static_cast<size_t>(task));
      k_.matmul_mlx(a);
    });
  }

  template <typename Fn>
  void ElementWise(int64_t n, const Fn& fn) {
    const int64_t tasks = n >= kMinParallelElems ? pool_.size() : 1;
    pool_.Run(tasks, [&](int64_t task, int) {
      // Chunk borders at multiples of 16 keep the kernels' vector loads whole.
      const int64_t b = SplitPoint(n / 16, tasks, task) * 16;
      const int64_t e = task + 1 == tasks ? n : SplitPoint(n / 16, tasks, task + 1) * 16;
      if (e > b) fn(b, e);
    });
  }

  static void RotateHead(float* v, const float* cs, int half, bool interleaved) {
    for (int i = 0; i < half; ++i) {
      const int ia = interleaved ? 2 * i : i;
      const int ib = interleaved ? 2 * i + 1 : i + half;
      const float a = v[ia], b = v[ib], c = cs[2 * i], s = cs[2 * i + 1];
      v[ia] = a * c - b * s;
      v[ib] = a * s + b * c;
    }
  }

  ThreadPool& pool_;
  const cpu::CpuKernels& k_;
  const bool int8_acts_;
  const int int8_levels_;
  AlignedBuffer acts_;
  std::vector<AlignedBuffer> matmul_scratch_;  // per task: matmul partial sums
  AlignedBuffer exact_scratch_;                // per task: ExactScratchFloats(n_in, n_tok) floats
  cpu::TieredAttentionRunner attention_;
  std::vector<int64_t> attn_split_;  // [n_tok]: all zero for the plain Attention op
  std::vector<float> norm_weight_;   // [n]: RmsNorm weight widened to f32, plus its offset
  std::vector<float> inv_freq_;
  std::vector<float> mlx_xsum_;     // [n_tok, n_in / G, 16] MLX group sums
  std::vector<float> cos_sin_;
};

}  // namespace

bool CpuIsaAvailable(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAuto:
    case CpuIsa::kGeneric: return true;
    case CpuIsa::kAvx512: return GetCpuFeatures().HasAvx512Kernels();
    case CpuIsa::kCount: break;
  }
  return false;
}

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool& pool, const CpuBackendOptions& options) {
  const CpuIsa resolved = ResolveIsa(options.isa);
  FS_CHECK(CpuIsaAvailable(resolved), "CPU ISA {} is not available on this CPU (has: {})", static_cast<int>(resolved),
           GetCpuFeatures().ToString());
  const cpu::CpuKernels& kernels = resolved == CpuIsa::kAvx512 ? cpu::Avx512Kernels() : cpu::GenericKernels();
  return std::make_unique<CpuBackend>(pool, kernels, options.int8_activations, options.int8_levels);
}

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool& pool) { return MakeCpuBackend(pool, CpuBackendOptions{}); }

}  // namespace flashstream
