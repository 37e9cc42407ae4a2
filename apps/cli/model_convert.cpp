#include "model_convert.h"

#include <sys/stat.h>  // mkdir

#include <cerrno>
#include <charconv>  // std::from_chars for expert numbers
#include <cstring>

#include "backend/cpu/quant.h"  // DequantizeRow
#include "core/half.h"          // FloatToHalfRow, FloatToBF16Row
#include "core/mlx_quant.h"     // MlxQuantizeRow, MlxDequantizeRow
#include "formats/gguf.h"       // ReadGgufFile (tokenizer keys)
#include "formats/gguf_writer.h"
#include "formats/hf_names.h"
#include "formats/hf_tokenizer.h"
#include "formats/hf_writer.h"
#include "formats/safetensors_writer.h"
#include "io/file.h"

namespace flashstream::cli {
namespace {

bool IsCompanion(const std::string& name) {
  auto ends = [&](std::string_view s) {
    return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends(".scales") || ends(".biases");
}

// Reads source tensors as bytes or f32 rows. Borrows the index.
class Source {
 public:
  static Result<Source> Open(const ModelIndex& index) {
    Source s(index);
    for (const std::string& path : index.files) {
      FS_ASSIGN_OR_RETURN(File f, File::Open(path));
      s.files_.push_back(std::move(f));
    }
    return s;
  }
  Result<std::vector<std::byte>> Raw(const TensorInfo& t) const {
    std::vector<std::byte> out(t.bytes);
    FS_RETURN_IF_ERROR(files_[static_cast<size_t>(t.file)].ReadAt(t.offset, out.data(), out.size()));
    return out;
  }
  // [rows, cols] values as f32.
  Result<std::vector<float>> F32(const TensorInfo& t) const {
    FS_ASSIGN_OR_RETURN(std::vector<std::byte> raw, Raw(t));
    const int64_t cols = t.shape[t.shape.rank - 1], rows = t.shape.elements() / cols;
    std::vector<float> out(static_cast<size_t>(rows * cols));
    if (!IsMlx(t.dtype)) {
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(t.dtype, raw.data() + RowBytes(t.dtype, cols) * r, out.data() + r * cols, cols);
      }
      return out;
    }
    const TensorInfo* s = index_.Find(t.scales);
    const TensorInfo* b = index_.Find(t.biases);
    if (s == nullptr || b == nullptr) return Errorf("{}: companions of '{}' are missing", index_.files.at(0), t.name);
    FS_ASSIGN_OR_RETURN(std::vector<std::byte> sr, Raw(*s));
    FS_ASSIGN_OR_RETURN(std::vector<std::byte> br, Raw(*b));
    const uint64_t aux_row = RowBytes(s->dtype, cols / t.group_size);
    for (int64_t r = 0; r < rows; ++r) {
      MlxDequantizeRow(t.dtype, raw.data() + RowBytes(t.dtype, cols) * r, sr.data() + aux_row * r,
                       br.data() + aux_row * r, s->dtype, t.group_size, out.data() + r * cols, cols);
    }
    return out;
  }

 private:
  explicit Source(const ModelIndex& index) : index_(index) {}
  const ModelIndex& index_;
  std::vector<File> files_;
};

// Which way Q/K rows must move: 0 none, +1 adjacent pairs -> halves, -1 halves
// -> pairs.
int RopeDirection(const ModelConfig& c, bool target_interleaved) {
  if (c.rope_interleaved == target_interleaved) return 0;
  return target_interleaved ? -1 : +1;
}

// Permutes the rows (row_bytes each) of a Q or K tensor with `heads` heads of
// head_dim rows.
void PermuteRows(std::byte* data, uint64_t row_bytes, int heads, int head_dim, int direction) {
  if (direction == 0) return;
  const int half = head_dim / 2;
  std::vector<std::byte> head(row_bytes * static_cast<uint64_t>(head_dim));
  for (int h = 0; h < heads; ++h) {
    std::byte* base = data + row_bytes * static_cast<uint64_t>(h) * static_cast<uint64_t>(head_dim);
    std::memcpy(head.data(), base, head.size());
    for (int i = 0; i < half; ++i) {
      for (int j = 0; j < 2; ++j) {
        const int pair = 2 * i + j, halves = j * half + i;
        const int dst = direction > 0 ? halves : pair, src = direction > 0 ? pair : halves;
        std::memcpy(base + row_bytes * static_cast<uint64_t>(dst), head.data() + row_bytes * static_cast<uint64_t>(src),
                    row_bytes);
      }
    }
  }
}

// Heads of a Q/K tensor ("blk.N.attn_q.weight"/".bias"), or 0 for other
// tensors.
int QkHeads(const std::string& name, const ModelConfig& c) {
  auto has = [&](std::string_view s) { return name.find(s) != std::string::npos; };
  if (has(".attn_q.weight") || has(".attn_q.bias")) return c.n_heads;
  if (has(".attn_k.weight") || has(".attn_k.bias")) return c.n_kv_heads;
  return 0;
}

std::vector<int64_t> Dims(const Shape& s) { return std::vector<int64_t>(s.dims.begin(), s.dims.begin() + s.rank); }

Status WriteFloats(FileWriter& out, const float* v, int64_t n, DType dtype) {
  if (dtype == DType::kF32) return out.Write(v, static_cast<size_t>(n) * 4);
  std::vector<uint16_t> h(static_cast<size_t>(n));
  if (dtype == DType::kF16) {
    FloatToHalfRow(v, h.data(), n);
  } else {
    FloatToBF16Row(v, h.data(), n);
  }
  return out.Write(h.data(), h.size() * 2);
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errorf("{}: cannot create the output folder: {}", path, std::strerror(errno));
  }
  return Status::Ok();
}

// Writes tokenizer.json / tokenizer_config.json (chat template, special tokens) for `spec` into
// `folder`.
Status WriteFolderTokenizer(const TokenizerSpec& spec, const std::string& folder, bool* written) {
  FS_RETURN_IF_ERROR(WriteHfTokenizer(spec, folder));
  *written = true;
  return Status::Ok();
}

// One output entry of an HF/MLX folder: its source tensor and which part (0:
// values or packed codes, 1: scales, 2: biases).
struct Part {
  const TensorInfo* src;
  DType quantize;  // kMlxQ4 / kMlxQ8, or kF32 for a tensor stored unquantized
  int part;
};

Status ConvertToFolder(const ModelIndex& in, const ConvertOptions& o, const Source& src,
                       const std::function<void(uint64_t, uint64_t)>& progress, bool* tokenizer_written) {
  const bool mlx = o.target != ConvertTarget::kHf;
  const DType qtype = o.target == ConvertTarget::kMlxQ4 ? DType::kMlxQ4 : DType::kMlxQ8;
  const StDType st = *StDTypeOf(o.dtype);
  const ModelConfig& c = in.config;
  const int dir = RopeDirection(c, /*target_interleaved=*/false);
  std::vector<Part> parts;
  MlxQuantConfig quant;
  if (mlx) quant.base = {o.group_size, MlxBits(qtype)};
  SafetensorsWriter w;
  uint64_t total = 0;
  for (const TensorInfo& t : in.tensors) {
    if (IsCompanion(t.name)) continue;
    std::optional<std::string> hf = HfFromCanonical(t.name, c.arch == "gemma3", c.arch == "llama" && c.n_expert > 0);
    if (!hf) return Errorf("{}: tensor '{}' has no Hugging Face name", in.files.at(0), t.name);
    const bool q = mlx && t.shape.rank == 2 && hf->ends_with(".weight") && t.shape[1] % o.group_size == 0;
    total += t.bytes;
    if (!q) {
      w.Add(*hf, st, Dims(t.shape));
      parts.push_back({&t, DType::kF32, 0});
      continue;
    }
    const std::string module = hf->substr(0, hf->size() - 7);
    const bool low_bit_source =
        t.dtype == DType::kQ4_0 || t.dtype == DType::kQ4_1 || t.dtype == DType::kQ4_K || t.dtype == DType::kMlxQ4;
    const bool embed = t.name == "token_embd.weight" || t.name == "output.weight";
    const DType tq = qtype == DType::kMlxQ4 && o.embed_8bit && embed && !low_bit_source ? DType::kMlxQ8 : qtype;
    if (tq != qtype) quant.overrides[module] = {o.group_size, 8};
    w.Add(module + ".weight", StDType::kU32, {t.shape[0], t.shape[1] * MlxBits(tq) / 32});
    w.Add(module + ".scales", st, {t.shape[0], t.shape[1] / o.group_size});
    w.Add(module + ".biases", st, {t.shape[0], t.shape[1] / o.group_size});
    for (int k = 0; k < 3; ++k) parts.push_back({&t, tq, k});
  }
  w.SetMetadata("format", mlx ? "mlx" : "pt");
  FS_RETURN_IF_ERROR(MakeDir(o.output));
  const std::string torch = o.dtype == DType::kF32 ? "float32" : o.dtype == DType::kF16 ? "float16" : "bfloat16";
  FS_RETURN_IF_ERROR(WriteHfConfig(c, torch, quant, o.output + "/config.json"));
  if (in.tokenizer.kind != TokenizerSpec::Kind::kNone) {
    FS_RETURN_IF_ERROR(WriteFolderTokenizer(in.tokenizer, o.output, tokenizer_written));
  }
  uint64_t done = 0;
  std::vector<std::byte> packed, scales,
      biases;  // the current quantized tensor's three parts
  return w.Write(o.output + "/model.safetensors",
                 [&](size_t i, const SafetensorsWriter::Entry&, FileWriter& out) -> Status {
                   const Part& p = parts[i];
                   const TensorInfo& t = *p.src;
                   if (p.part == 1) return out.Write(scales.data(), scales.size());
                   if (p.part == 2) return out.Write(biases.data(), biases.size());
                   FS_ASSIGN_OR_RETURN(std::vector<float> v, src.F32(t));
                   const int64_t cols = t.shape[t.shape.rank - 1], rows = t.shape.elements() / cols;
                   if (const int heads = QkHeads(t.name, c); heads > 0) {
                     PermuteRows(reinterpret_cast<std::byte*>(v.data()),
                                 static_cast<uint64_t>(t.shape.rank == 1 ? 1 : cols) * 4, heads, c.head_dim, dir);
                   }
                   done += t.bytes;
                   if (progress) progress(done, total);
                   if (!IsMlx(p.quantize)) return WriteFloats(out, v.data(), static_cast<int64_t>(v.size()), o.dtype);
                   const DType qtype = p.quantize;
                   const uint64_t row_bytes = RowBytes(qtype, cols), aux_bytes = RowBytes(o.dtype, cols / o.group_size);
                   packed.assign(row_bytes * static_cast<uint64_t>(rows), std::byte{0});
                   scales.assign(aux_bytes * static_cast<uint64_t>(rows), std::byte{0});
                   biases.assign(aux_bytes * static_cast<uint64_t>(rows), std::byte{0});
                   for (int64_t r = 0; r < rows; ++r) {
                     MlxQuantizeRow(qtype, v.data() + r * cols, o.group_size, o.dtype, packed.data() + row_bytes * r,
                                    scales.data() + aux_bytes * r, biases.data() + aux_bytes * r, cols);
                   }
                   return out.Write(packed.data(), packed.size());
                 });
}

// Writes one canonical tensor's bytes as GGUF stores them (MLX dequantized to o.dtype, Q/K rows
// permuted for adjacent-pair RoPE).
Status WriteGgufPart(const TensorInfo& t, const GgufTensorInfo& gt, const Source& src, const ConvertOptions& o,
                     const ModelConfig& c, int dir, GgufTensorSink& sink) {
  const int64_t cols = t.shape[t.shape.rank - 1];
  std::vector<std::byte> bytes;
  if (IsMlx(t.dtype)) {
    FS_ASSIGN_OR_RETURN(std::vector<float> v, src.F32(t));
    if (o.dtype == DType::kF32) {
      bytes.resize(v.size() * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else {
      std::vector<uint16_t> h(v.size());
      if (o.dtype == DType::kF16)
        FloatToHalfRow(v.data(), h.data(), static_cast<int64_t>(v.size()));
      else
        FloatToBF16Row(v.data(), h.data(), static_cast<int64_t>(v.size()));
      bytes.resize(h.size() * 2);
      std::memcpy(bytes.data(), h.data(), bytes.size());
    }
  } else {
    FS_ASSIGN_OR_RETURN(bytes, src.Raw(t));
  }
  if (const int heads = QkHeads(t.name, c); heads > 0) {
    PermuteRows(bytes.data(),
                t.shape.rank == 1 ? bytes.size() / static_cast<uint64_t>(t.shape[0]) : RowBytes(gt.dtype, cols), heads,
                c.head_dim, dir);
  }
  return sink.Write(bytes.data(), bytes.size());
}

// "blk.N.ffn_gate.E.weight" -> stem "blk.N.ffn_gate" and E; false for other names.
bool ExpertStem(const std::string& name, std::string* stem, int* expert) {
  constexpr std::string_view kWeight = ".weight";
  if (name.rfind("blk.", 0) != 0 || !name.ends_with(kWeight)) return false;
  const std::string_view body(name.data(), name.size() - kWeight.size());
  const size_t dot = body.rfind('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view digits = body.substr(dot + 1), kind = body.substr(0, dot);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *expert);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty()) return false;
  if (!kind.ends_with(".ffn_gate") && !kind.ends_with(".ffn_up") && !kind.ends_with(".ffn_down")) return false;
  *stem = std::string(kind);
  return true;
}

Status ConvertToGguf(const ModelIndex& in, const ConvertOptions& o, const Source& src,
                     const std::function<void(uint64_t, uint64_t)>& progress) {
  const ModelConfig& c = in.config;
  if (c.arch != "llama") return Errorf("{}: GGUF output supports llama, not '{}'", o.output, c.arch);
  const int dir = RopeDirection(c, /*target_interleaved=*/true);
  GgufWriter w;
  const std::string a = c.arch + ".";
  w.Set("general.architecture", GgufValue::String(c.arch));
  w.Set("general.name", GgufValue::String(c.name.empty() ? "converted" : c.name));
  w.Set(a + "block_count", GgufValue::U32(static_cast<uint32_t>(c.n_layers)));
  w.Set(a + "context_length", GgufValue::U32(static_cast<uint32_t>(c.context_length > 0 ? c.context_length : 4096)));
  w.Set(a + "embedding_length", GgufValue::U32(static_cast<uint32_t>(c.n_embd)));
  w.Set(a + "feed_forward_length", GgufValue::U32(static_cast<uint32_t>(c.n_ff)));
  w.Set(a + "attention.head_count", GgufValue::U32(static_cast<uint32_t>(c.n_heads)));
  w.Set(a + "attention.head_count_kv", GgufValue::U32(static_cast<uint32_t>(c.n_kv_heads)));
  w.Set(a + "attention.key_length", GgufValue::U32(static_cast<uint32_t>(c.head_dim)));
  w.Set(a + "attention.value_length", GgufValue::U32(static_cast<uint32_t>(c.head_dim)));
  w.Set(a + "attention.layer_norm_rms_epsilon", GgufValue::F32(c.rms_eps));
  w.Set(a + "rope.freq_base", GgufValue::F32(c.rope_theta));
  w.Set(a + "rope.dimension_count", GgufValue::U32(static_cast<uint32_t>(c.rope_dim > 0 ? c.rope_dim : c.head_dim)));
  w.Set(a + "vocab_size", GgufValue::U32(static_cast<uint32_t>(c.vocab_size)));
  if (c.rope_scale_factor > 0) {
    w.Set(a + "rope.scaling.type", GgufValue::String("llama3"));
    w.Set(a + "rope.scaling.factor", GgufValue::F32(c.rope_scale_factor));
    w.Set(a + "rope.scaling.low_freq_factor", GgufValue::F32(c.rope_low_freq_factor));
    w.Set(a + "rope.scaling.high_freq_factor", GgufValue::F32(c.rope_high_freq_factor));
    w.Set(a + "rope.scaling.original_context_length", GgufValue::U32(static_cast<uint32_t>(c.rope_original_context)));
  }
  if (c.n_expert > 0) {
    w.Set(a + "expert_count", GgufValue::U32(static_cast<uint32_t>(c.n_expert)));
    w.Set(a + "expert_used_count", GgufValue::U32(static_cast<uint32_t>(c.n_expert_used)));
    w.Set(a + "expert_feed_forward_length", GgufValue::U32(static_cast<uint32_t>(c.n_ff_expert)));
    w.Set(a + "expert_weights_norm", GgufValue::Bool(c.expert_weights_norm));
  }
  if (in.format == "gguf") {  // the tokenizer travels as metadata
    FS_ASSIGN_OR_RETURN(GgufFile g, ReadGgufFile(o.source_path));
    for (const auto& [key, value] : g.kv) {
      if (key.rfind("tokenizer.", 0) == 0) w.Set(key, value);
    }
  }
  // One GGUF tensor per entry: a canonical tensor, or a layer's experts stacked as llama.cpp
  // stores them ("blk.N.ffn_gate.{e}.weight" -> "blk.N.ffn_gate_exps.weight" [n_expert, ...]).
  std::vector<std::vector<const TensorInfo*>> order;
  uint64_t total = 0;
  for (const TensorInfo& t : in.tensors) {
    if (IsCompanion(t.name)) continue;
    const DType out = IsMlx(t.dtype) ? o.dtype : t.dtype;
    std::string stem;
    int expert = -1;
    if (!ExpertStem(t.name, &stem, &expert)) {
      FS_RETURN_IF_ERROR(w.AddTensor(t.name, out, t.shape));
      order.push_back({&t});
      total += t.bytes;
      continue;
    }
    if (expert != 0) continue;  // added with expert 0
    std::vector<const TensorInfo*> group;
    for (int e = 0; e < c.n_expert; ++e) {
      const TensorInfo* x = in.Find(stem + "." + std::to_string(e) + ".weight");
      if (x == nullptr || !(x->shape == t.shape) || x->dtype != t.dtype) {
        return Errorf("{}: expert {} of '{}' is missing or differs from expert 0", in.files.at(0), e, stem);
      }
      group.push_back(x);
      total += x->bytes;
    }
    FS_RETURN_IF_ERROR(w.AddTensor(stem + "_exps.weight", out, MakeShape({c.n_expert, t.shape[0], t.shape[1]})));
    order.push_back(std::move(group));
  }
  uint64_t done = 0;
  size_t next = 0;
  return w.Write(o.output, [&](const GgufTensorInfo& gt, GgufTensorSink& sink) -> Status {
    for (const TensorInfo* t : order[next++]) {
      FS_RETURN_IF_ERROR(WriteGgufPart(*t, gt, src, o, c, dir, sink));
      done += t->bytes;
      if (progress) progress(done, total);
    }
    return Status::Ok();
  });
}

}  // namespace

Status ConvertModel(const ModelIndex& in, const ConvertOptions& o,
                    const std::function<void(uint64_t, uint64_t)>& progress, bool* tokenizer_written) {
  bool ignored = false;
  if (tokenizer_written == nullptr) tokenizer_written = &ignored;
  *tokenizer_written = false;
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return Errorf("convert: --dtype {} is not one of f32, f16, bf16", Name(o.dtype));
  }
  if (o.target == ConvertTarget::kMlxQ4 || o.target == ConvertTarget::kMlxQ8) {
    if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128) {
      return Errorf("convert: --group-size {} is not one of 32, 64, 128", o.group_size);
    }
  }
  const int rope_dim = in.config.rope_dim > 0 ? in.config.rope_dim : in.config.head_dim;
  if (rope_dim != in.config.head_dim) {
    return Errorf("{}: partial RoPE ({} of {} dims) cannot be converted", in.files.at(0), rope_dim, in.config.head_dim);
  }
  FS_ASSIGN_OR_RETURN(Source src, Source::Open(in));
  if (o.target == ConvertTarget::kGguf) {
    *tokenizer_written = in.format == "gguf";  // its tokenizer.* metadata is copied
    return ConvertToGguf(in, o, src, progress);
  }
  return ConvertToFolder(in, o, src, progress, tokenizer_written);
}

}  // namespace flashstream::cli
