#include "formats/synth.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "formats/gguf.h"         // ReadGgufFile for the vocabulary source
#include "formats/gguf_writer.h"  // GgufWriter
#include "formats/synth_fill.h"   // Rng, FillRandom

namespace flashstream {
namespace {

using synth_detail::Fill;

constexpr uint64_t kChunkBytes = uint64_t{8} << 20;  // generation unit; fixes the random stream

struct TensorPlan {
  std::string name;
  DType dtype;
  Shape shape;
  Fill fill;
};

// A run of whole rows of one tensor, generated from its own seed.
struct Chunk {
  size_t tensor;
  uint64_t index;  // within the tensor
  int64_t n_elems;
  uint64_t bytes;
};

struct Plan {
  std::vector<TensorPlan> tensors;
  std::vector<Chunk> chunks;
  std::vector<size_t> first_chunk;  // per tensor, plus one past the end
  uint64_t max_chunk_bytes = 0;
};

// What an architecture adds to the llama tensor set, and its GGUF facts.
struct SynthArch {
  std::string_view name;
  bool bias;           // attn_{q,k,v}.bias
  bool qk_norm;        // attn_{q,k}_norm.weight
  bool post_norms;     // post_attention_norm, post_ffw_norm
  int sliding_window;  // "{arch}.attention.sliding_window"; 0 = none
};
constexpr SynthArch kSynthArchs[] = {
    {"llama", false, false, false, 0},   {"mistral", false, false, false, 4096}, {"qwen2", true, false, false, 0},
    {"qwen3", false, true, false, 0},    {"gemma3", false, true, true, 512},     {"qwen2moe", true, false, false, 0},
    {"qwen3moe", false, true, false, 0},
};

const SynthArch* FindSynthArch(std::string_view name) {
  for (const SynthArch& a : kSynthArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

int64_t HeadDim(const SynthShape& s) { return s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_heads; }

// Router, stacked experts [n_expert, rows, cols] and the shared expert of one layer.
void AddExperts(const SynthShape& s, const std::string& p, DType dtype, Plan* plan) {
  const int64_t e = s.n_expert, ff = s.n_ff_expert, d = s.n_embd;
  plan->tensors.push_back({p + "ffn_gate_inp.weight", DType::kF32, MakeShape({e, d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_gate_exps.weight", dtype, MakeShape({e, ff, d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_up_exps.weight", dtype, MakeShape({e, ff, d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_down_exps.weight", dtype, MakeShape({e, d, ff}), Fill::kWeight});
  if (s.n_ff_shared == 0) return;
  const int64_t sh = s.n_ff_shared;
  plan->tensors.push_back({p + "ffn_gate_inp_shexp.weight", DType::kF32, MakeShape({d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_gate_shexp.weight", dtype, MakeShape({sh, d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_up_shexp.weight", dtype, MakeShape({sh, d}), Fill::kWeight});
  plan->tensors.push_back({p + "ffn_down_shexp.weight", dtype, MakeShape({d, sh}), Fill::kWeight});
}

Plan MakePlan(const SynthArch& arch, const SynthShape& s, int vocab, DType dtype, bool tied) {
  const int64_t head_dim = HeadDim(s);
  const int64_t q = s.n_heads * head_dim;
  const int64_t kv = s.n_kv_heads * head_dim;
  Plan plan;
  plan.tensors.push_back({"token_embd.weight", dtype, MakeShape({vocab, s.n_embd}), Fill::kWeight});
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    plan.tensors.push_back({p + "attn_norm.weight", DType::kF32, MakeShape({s.n_embd}), Fill::kNorm});
    plan.tensors.push_back({p + "attn_q.weight", dtype, MakeShape({q, s.n_embd}), Fill::kWeight});
    plan.tensors.push_back({p + "attn_k.weight", dtype, MakeShape({kv, s.n_embd}), Fill::kWeight});
    plan.tensors.push_back({p + "attn_v.weight", dtype, MakeShape({kv, s.n_embd}), Fill::kWeight});
    if (arch.bias) {
      plan.tensors.push_back({p + "attn_q.bias", DType::kF32, MakeShape({q}), Fill::kWeight});
      plan.tensors.push_back({p + "attn_k.bias", DType::kF32, MakeShape({kv}), Fill::kWeight});
      plan.tensors.push_back({p + "attn_v.bias", DType::kF32, MakeShape({kv}), Fill::kWeight});
    }
    if (arch.qk_norm) {
      plan.tensors.push_back({p + "attn_q_norm.weight", DType::kF32, MakeShape({head_dim}), Fill::kNorm});
      plan.tensors.push_back({p + "attn_k_norm.weight", DType::kF32, MakeShape({head_dim}), Fill::kNorm});
    }
    plan.tensors.push_back({p + "attn_output.weight", dtype, MakeShape({s.n_embd, q}), Fill::kWeight});
    if (arch.post_norms) {
      plan.tensors.push_back({p + "post_attention_norm.weight", DType::kF32, MakeShape({s.n_embd}), Fill::kNorm});
      plan.tensors.push_back({p + "post_ffw_norm.weight", DType::kF32, MakeShape({s.n_embd}), Fill::kNorm});
    }
    plan.tensors.push_back({p + "ffn_norm.weight", DType::kF32, MakeShape({s.n_embd}), Fill::kNorm});
    if (s.n_expert > 0) {
      AddExperts(s, p, dtype, &plan);
      continue;
    }
    plan.tensors.push_back({p + "ffn_gate.weight", dtype, MakeShape({s.n_ff, s.n_embd}), Fill::kWeight});
    plan.tensors.push_back({p + "ffn_up.weight", dtype, MakeShape({s.n_ff, s.n_embd}), Fill::kWeight});
    plan.tensors.push_back({p + "ffn_down.weight", dtype, MakeShape({s.n_embd, s.n_ff}), Fill::kWeight});
  }
  plan.tensors.push_back({"output_norm.weight", DType::kF32, MakeShape({s.n_embd}), Fill::kNorm});
  if (!tied) plan.tensors.push_back({"output.weight", dtype, MakeShape({vocab, s.n_embd}), Fill::kWeight});

  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    const TensorPlan& tp = plan.tensors[t];
    const int64_t cols = tp.shape[tp.shape.rank - 1];
    const int64_t rows = tp.shape.elements() / cols;
    const uint64_t row_bytes = RowBytes(tp.dtype, cols);
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / row_bytes));
    plan.first_chunk.push_back(plan.chunks.size());
    for (int64_t r = 0, k = 0; r < rows; r += rows_per_chunk, ++k) {
      const int64_t n_rows = std::min(rows_per_chunk, rows - r);
      plan.chunks.push_back({t, static_cast<uint64_t>(k), n_rows * cols, row_bytes * static_cast<uint64_t>(n_rows)});
      plan.max_chunk_bytes = std::max(plan.max_chunk_bytes, plan.chunks.back().bytes);
    }
  }
  plan.first_chunk.push_back(plan.chunks.size());
  return plan;
}

// Generates chunks on background threads ahead of the consumer, into a ring of buffers.
// Worker t fills chunks t, t + T, ...; chunk i goes to slot i % slots and waits until the
// consumer has released chunk i - slots. Acquire/Release are called by one consumer, in order.
class ChunkPipeline {
 public:
  ChunkPipeline(const Plan& plan, uint64_t seed, int threads)
      : plan_(plan), seed_(seed), ready_(static_cast<size_t>(2 * threads + 2), -1) {
    for (size_t i = 0; i < ready_.size(); ++i) slots_.emplace_back(new std::byte[plan.max_chunk_bytes]);
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this, t, threads] { Work(t, threads); });
  }
  ~ChunkPipeline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& w : workers_) w.join();
  }
  ChunkPipeline(const ChunkPipeline&) = delete;
  ChunkPipeline& operator=(const ChunkPipeline&) = delete;

  const std::byte* Acquire(size_t i) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_[i % ready_.size()] == static_cast<int64_t>(i); });
    return slots_[i % slots_.size()].get();
  }
  void Release(size_t i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = i + 1;
    }
    cv_.notify_all();
  }

 private:
  void Work(int t, int threads) {
    for (size_t i = static_cast<size_t>(t); i < plan_.chunks.size(); i += static_cast<size_t>(threads)) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || i < released_ + slots_.size(); });
        if (stop_) return;
      }
      const Chunk& c = plan_.chunks[i];
      const TensorPlan& tp = plan_.tensors[c.tensor];
      synth_detail::Rng rng(synth_detail::MixSeed(seed_, c.tensor, c.index));
      synth_detail::FillRandom(tp.dtype, tp.fill, tables_, rng, slots_[i % slots_.size()].get(), c.n_elems);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_[i % ready_.size()] = static_cast<int64_t>(i);
      }
      cv_.notify_all();
    }
  }

  const Plan& plan_;
  const uint64_t seed_;
  const synth_detail::HalfTables tables_;
  std::vector<std::unique_ptr<std::byte[]>> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> ready_;  // chunk index held in each slot, -1 = none
  size_t released_ = 0;         // chunks [0, released_) are consumed
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

Status Validate(const SynthOptions& o) {
  const SynthShape& s = o.shape;
  if (s.n_layers <= 0 || s.n_embd <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.n_ff <= 0 || s.context_length <= 0) {
    return Errorf("synth: shape layers {} embd {} heads {} kv_heads {} ff {} context {}: all must be positive",
                  s.n_layers, s.n_embd, s.n_heads, s.n_kv_heads, s.n_ff, s.context_length);
  }
  if (FindSynthArch(o.arch) == nullptr) {
    return Errorf("synth: architecture '{}' is not supported (supported: {})", o.arch, SynthArchNames());
  }
  if ((s.head_dim == 0 && s.n_embd % s.n_heads != 0) || s.n_heads % s.n_kv_heads != 0 || s.head_dim < 0 ||
      HeadDim(s) % 2 != 0) {
    return Errorf(
        "synth: heads {} must divide embd {} (or head_dim {} be given) and be a multiple of kv_heads {}; "
        "head_dim must be even",
        s.n_heads, s.n_embd, s.head_dim, s.n_kv_heads);
  }
  static constexpr DType kAllowed[] = {DType::kF32,  DType::kF16,  DType::kBF16,
                                       DType::kQ8_0, DType::kQ4_0, DType::kQ4_1};
  if (std::find(std::begin(kAllowed), std::end(kAllowed), o.dtype) == std::end(kAllowed)) {
    return Errorf("synth: dtype {} is not supported (supported: f32, f16, bf16, q8_0, q4_0, q4_1)", Name(o.dtype));
  }
  const int block = Info(o.dtype).block_elems;
  if (s.n_embd % block != 0 || s.n_ff % block != 0 || (s.n_heads * HeadDim(s)) % block != 0) {
    return Errorf("synth: embd {}, ff {} and heads x head_dim {} must be multiples of the {} block size {}", s.n_embd,
                  s.n_ff, s.n_heads * HeadDim(s), Name(o.dtype), block);
  }
  if (s.n_expert < 0 || s.n_expert > 1024 ||
      (s.n_expert > 0 && (s.n_expert_used < 1 || s.n_expert_used > s.n_expert || s.n_ff_expert <= 0 ||
                          s.n_ff_expert % block != 0 || s.n_ff_shared < 0 || s.n_ff_shared % block != 0))) {
    return Errorf(
        "synth: experts {} (used {}, ff {}, shared ff {}): expected 0..1024 experts, 1..experts used, "
        "expert and shared widths positive multiples of the {} block size {}",
        s.n_expert, s.n_expert_used, s.n_ff_expert, s.n_ff_shared, Name(o.dtype), block);
  }
  if (o.generator_threads < 1 || o.generator_threads > 64) {
    return Errorf("synth: generator_threads is {}, expected 1..64", o.generator_threads);
  }
  if (o.output_path.empty()) return Errorf("synth: no output path");
  return Status::Ok();
}

uint32_t LlamaFileType(DType d) {
  switch (d) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ4_1:
      return 3;
    case DType::kQ8_0:
      return 7;
    case DType::kBF16:
      return 32;
    default:
      return 0;
  }
}

Status SetMetadata(const SynthOptions& o, const GgufFile& vocab, GgufWriter& w, int* vocab_size) {
  const GgufValue* tokens = vocab.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != GgufType::kArray || tokens->elem_type != GgufType::kString ||
      tokens->count == 0 || tokens->count > (1u << 22)) {
    return Errorf("{}: vocabulary source needs 'tokenizer.ggml.tokens' as an array of 1..2^22 strings", vocab.path);
  }
  *vocab_size = static_cast<int>(tokens->count);
  const SynthShape& s = o.shape;
  const SynthArch& arch = *FindSynthArch(o.arch);
  const std::string a(arch.name);
  const auto u32 = [](int64_t v) { return GgufValue::U32(static_cast<uint32_t>(v)); };
  w.Set("general.architecture", GgufValue::String(a));
  w.Set("general.name", GgufValue::String(o.name));
  w.Set("general.file_type", GgufValue::U32(LlamaFileType(o.dtype)));
  if (IsQuantized(o.dtype)) w.Set("general.quantization_version", GgufValue::U32(2));
  w.Set(a + ".block_count", u32(s.n_layers));
  w.Set(a + ".context_length", u32(s.context_length));
  w.Set(a + ".embedding_length", u32(s.n_embd));
  w.Set(a + ".feed_forward_length", u32(s.n_ff));
  w.Set(a + ".attention.head_count", u32(s.n_heads));
  w.Set(a + ".attention.head_count_kv", u32(s.n_kv_heads));
  w.Set(a + ".attention.key_length", u32(HeadDim(s)));
  w.Set(a + ".attention.value_length", u32(HeadDim(s)));
  w.Set(a + ".attention.layer_norm_rms_epsilon", GgufValue::F32(1e-5f));
  if (arch.sliding_window > 0) w.Set(a + ".attention.sliding_window", u32(arch.sliding_window));
  if (s.n_expert > 0) {
    w.Set(a + ".expert_count", u32(s.n_expert));
    w.Set(a + ".expert_used_count", u32(s.n_expert_used));
    w.Set(a + ".expert_feed_forward_length", u32(s.n_ff_expert));
    if (s.n_ff_shared > 0) w.Set(a + ".expert_shared_feed_forward_length", u32(s.n_ff_shared));
  }
  w.Set(a + ".rope.freq_base", GgufValue::F32(10000.f));
  w.Set(a + ".rope.dimension_count", u32(HeadDim(s)));
  w.Set(a + ".vocab_size", u32(*vocab_size));
  for (const auto& [key, value] : vocab.kv) {
    if (key.rfind("tokenizer.", 0) == 0) w.Set(key, value);
  }
  return Status::Ok();
}

}  // namespace

Result<SynthShape> SynthPreset(std::string_view name) {
  if (name == "tiny") return SynthShape{2, 64, 4, 2, 128, 512};
  if (name == "7b") return SynthShape{32, 4096, 32, 32, 11008, 4096};
  if (name == "13b") return SynthShape{40, 5120, 40, 40, 13824, 4096};
  if (name == "70b") return SynthShape{80, 8192, 64, 8, 28672, 4096};
  if (name == "tiny-moe") return SynthShape{4, 64, 4, 2, 64, 512, 0, 8, 2, 64, 0};
  if (name == "mixtral-8x7b") return SynthShape{32, 4096, 32, 8, 14336, 32768, 0, 8, 2, 14336, 0};
  if (name == "qwen3-30b-a3b") return SynthShape{48, 2048, 32, 4, 6144, 32768, 128, 128, 8, 768, 0};
  return Errorf("synth: unknown shape preset '{}' (known: tiny, 7b, 13b, 70b, tiny-moe, mixtral-8x7b, qwen3-30b-a3b)",
                name);
}

std::string_view SynthArchNames() { return "llama, mistral, qwen2, qwen3, gemma3, qwen2moe, qwen3moe"; }

Status SynthesizeGguf(const SynthOptions& o, const SynthProgress& progress) {
  FS_RETURN_IF_ERROR(Validate(o));
  FS_ASSIGN_OR_RETURN(GgufFile vocab, ReadGgufFile(o.vocab_path));
  GgufWriter writer;
  int vocab_size = 0;
  FS_RETURN_IF_ERROR(SetMetadata(o, vocab, writer, &vocab_size));
  const Plan plan = MakePlan(*FindSynthArch(o.arch), o.shape, vocab_size, o.dtype, o.tied_embeddings);
  for (const TensorPlan& t : plan.tensors) FS_RETURN_IF_ERROR(writer.AddTensor(t.name, t.dtype, t.shape));

  ChunkPipeline pipeline(plan, o.seed, o.generator_threads);
  const uint64_t total = writer.data_bytes();
  size_t tensor = 0;
  auto source = [&](const GgufTensorInfo& info, GgufTensorSink& sink) -> Status {
    for (size_t i = plan.first_chunk[tensor]; i < plan.first_chunk[tensor + 1]; ++i) {
      const std::byte* bytes = pipeline.Acquire(i);
      Status s = sink.Write(bytes, plan.chunks[i].bytes);
      pipeline.Release(i);
      FS_RETURN_IF_ERROR(s);
      if (progress) progress(info.offset + info.bytes - sink.remaining(), total);
    }
    ++tensor;
    return Status::Ok();
  };
  return writer.Write(o.output_path, source, {.direct = o.direct_io, .sync = o.sync});
}

}  // namespace flashstream
