#include "formats/synth_hf.h"

#include <sys/stat.h>  // mkdir

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/half.h"     // FloatToHalfRow, FloatToBF16Row
#include "formats/gguf.h"  // ReadGgufFile: vocabulary size
#include "formats/hf_writer.h"
#include "formats/safetensors_writer.h"
#include "formats/synth_fill.h"

namespace flashstream {
namespace {

using synth_detail::Fill;
constexpr int kGroup = 64;
constexpr int64_t kChunkRows = 256;

struct Planned {
  std::string name;  // HF name
  Shape shape;       // logical [rows, cols]
  bool norm;
  bool quantized;  // MLX: packed weight followed by scales and biases entries
};

std::vector<Planned> PlanTensors(const SynthShape& s, int vocab, bool tied, bool mlx) {
  const int64_t hd = s.n_embd / s.n_heads, q = s.n_heads * hd, kv = s.n_kv_heads * hd;
  std::vector<Planned> out = {{"model.embed_tokens", MakeShape({vocab, s.n_embd}), false, mlx}};
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm", MakeShape({s.n_embd}), true, false});
    out.push_back({p + "self_attn.q_proj", MakeShape({q, s.n_embd}), false, mlx});
    out.push_back({p + "self_attn.k_proj", MakeShape({kv, s.n_embd}), false, mlx});
    out.push_back({p + "self_attn.v_proj", MakeShape({kv, s.n_embd}), false, mlx});
    out.push_back({p + "self_attn.o_proj", MakeShape({s.n_embd, q}), false, mlx});
    out.push_back({p + "post_attention_layernorm", MakeShape({s.n_embd}), true, false});
    out.push_back({p + "mlp.gate_proj", MakeShape({s.n_ff, s.n_embd}), false, mlx});
    out.push_back({p + "mlp.up_proj", MakeShape({s.n_ff, s.n_embd}), false, mlx});
    out.push_back({p + "mlp.down_proj", MakeShape({s.n_embd, s.n_ff}), false, mlx});
  }
  out.push_back({"model.norm", MakeShape({s.n_embd}), true, false});
  if (!tied) out.push_back({"lm_head", MakeShape({vocab, s.n_embd}), false, mlx});
  return out;
}

Status WriteAs(FileWriter& out, const std::vector<float>& v, DType dtype) {
  if (dtype == DType::kF32) return out.Write(v.data(), v.size() * 4);
  std::vector<uint16_t> h(v.size());
  if (dtype == DType::kF16) {
    FloatToHalfRow(v.data(), h.data(), static_cast<int64_t>(v.size()));
  } else {
    FloatToBF16Row(v.data(), h.data(), static_cast<int64_t>(v.size()));
  }
  return out.Write(h.data(), h.size() * 2);
}

}  // namespace

Status SynthesizeLlamaFolder(const SynthOptions& o, SynthFolder format, const SynthProgress& progress) {
  if (o.shape.n_expert > 0) {
    return Errorf("synth: mixture-of-experts shapes are written as GGUF only (convert the GGUF to a folder)");
  }
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return Errorf("synth: dtype {} for a folder, expected f32, f16 or bf16", Name(o.dtype));
  }
  FS_ASSIGN_OR_RETURN(GgufFile vocab, ReadGgufFile(o.vocab_path));
  const GgufValue* tokens = vocab.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != GgufType::kArray || tokens->count == 0 || tokens->count > (1u << 22)) {
    return Errorf(
        "{}: vocabulary source needs 'tokenizer.ggml.tokens' as an "
        "array of 1..2^22 strings",
        vocab.path);
  }
  const int vocab_size = static_cast<int>(tokens->count);
  const SynthShape& s = o.shape;
  if (s.n_heads <= 0 || s.n_embd % s.n_heads != 0 || s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0) {
    return Errorf("synth: {} heads / {} kv heads do not fit n_embd {}", s.n_heads, s.n_kv_heads, s.n_embd);
  }
  const bool mlx = format != SynthFolder::kHf;
  const int bits = format == SynthFolder::kMlxQ4 ? 4 : 8;
  if (mlx && (s.n_embd % kGroup != 0 || s.n_ff % kGroup != 0)) {
    return Errorf("synth: MLX groups of {} need n_embd and n_ff multiples of {}", kGroup, kGroup);
  }
  const std::vector<Planned> plan = PlanTensors(s, vocab_size, o.tied_embeddings, mlx);
  const StDType st = *StDTypeOf(o.dtype);
  SafetensorsWriter w;
  for (const Planned& p : plan) {
    const std::vector<int64_t> dims(p.shape.dims.begin(), p.shape.dims.begin() + p.shape.rank);
    if (!p.quantized) {
      w.Add(p.name + ".weight", st, dims);
      continue;
    }
    w.Add(p.name + ".weight", StDType::kU32, {dims[0], dims[1] * bits / 32});
    w.Add(p.name + ".scales", st, {dims[0], dims[1] / kGroup});
    w.Add(p.name + ".biases", st, {dims[0], dims[1] / kGroup});
  }
  if (mkdir(o.output_path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errorf("{}: cannot create the output folder: {}", o.output_path, std::strerror(errno));
  }
  ModelConfig c;
  c.arch = "llama";
  c.name = o.name;
  c.n_layers = s.n_layers;
  c.n_embd = s.n_embd;
  c.n_ff = s.n_ff;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.head_dim = s.n_embd / s.n_heads;
  c.vocab_size = vocab_size;
  c.context_length = s.context_length;
  c.tied_embeddings = o.tied_embeddings;
  MlxQuantConfig quant;
  if (mlx) quant.base = {kGroup, bits};
  const std::string torch = o.dtype == DType::kF32 ? "float32" : o.dtype == DType::kF16 ? "float16" : "bfloat16";
  FS_RETURN_IF_ERROR(WriteHfConfig(c, torch, quant, o.output_path + "/config.json"));

  const synth_detail::HalfTables tables;
  const uint64_t total = w.data_bytes();
  uint64_t done = 0;
  // Entry i of the writer: which planned tensor and part (0 values/codes, 1
  // scales, 2 biases).
  std::vector<std::pair<size_t, int>> parts;
  for (size_t t = 0; t < plan.size(); ++t) {
    for (int k = 0; k < (plan[t].quantized ? 3 : 1); ++k) parts.emplace_back(t, k);
  }
  const float amp = 0.035f;  // weights uniform in [-amp, amp]: std ~0.02
  return w.Write(
      o.output_path + "/model.safetensors",
      [&](size_t i, const SafetensorsWriter::Entry& e, FileWriter& out) -> Status {
        const auto [t, part] = parts[i];
        const Planned& p = plan[t];
        const int64_t cols = p.shape[p.shape.rank - 1], rows = p.shape.elements() / cols;
        for (int64_t r0 = 0, k = 0; r0 < rows; r0 += kChunkRows, ++k) {
          const int64_t n_rows = std::min(kChunkRows, rows - r0);
          synth_detail::Rng rng(synth_detail::MixSeed(o.seed, i, static_cast<uint64_t>(k)));
          if (p.norm) {
            std::vector<float> v(static_cast<size_t>(n_rows * cols));
            synth_detail::FillRandom(DType::kF32, Fill::kNorm, tables, rng, reinterpret_cast<std::byte*>(v.data()),
                                     n_rows * cols);
            FS_RETURN_IF_ERROR(WriteAs(out, v, o.dtype));
          } else if (!p.quantized) {
            std::vector<std::byte> v(RowBytes(o.dtype, cols) * static_cast<uint64_t>(n_rows));
            synth_detail::FillRandom(o.dtype, Fill::kWeight, tables, rng, v.data(), n_rows * cols);
            FS_RETURN_IF_ERROR(out.Write(v.data(), v.size()));
          } else if (part == 0) {
            std::vector<uint64_t> words(
                (RowBytes(bits == 4 ? DType::kMlxQ4 : DType::kMlxQ8, cols) * static_cast<uint64_t>(n_rows) + 7) / 8);
            for (uint64_t& wd : words) wd = rng.Next();
            FS_RETURN_IF_ERROR(out.Write(words.data(), RowBytes(bits == 4 ? DType::kMlxQ4 : DType::kMlxQ8, cols) *
                                                           static_cast<uint64_t>(n_rows)));
          } else {
            // scale in [0.9, 1.1] * 2 amp / (2^bits - 1); bias = -amp: weights
            // in about [-amp, amp].
            std::vector<float> v(static_cast<size_t>(n_rows * cols / kGroup));
            const float step = 2 * amp / static_cast<float>((1 << bits) - 1);
            for (float& x : v) {
              const float u = static_cast<float>(rng.Next() >> 40) / static_cast<float>(1 << 24);
              x = part == 1 ? step * (0.9f + 0.2f * u) : -amp * (0.9f + 0.2f * u);
            }
            FS_RETURN_IF_ERROR(WriteAs(out, v, o.dtype));
          }
        }
        done += e.bytes;
        if (progress) progress(done, total);
        return Status::Ok();
      },
      o.direct_io);
}

}  // namespace flashstream
