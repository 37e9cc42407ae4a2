// ModelIndexFromGguf: tensor table with absolute offsets, checked against the config.
#include "formats/gguf_model.h"

#include <charconv>  // std::from_chars for layer numbers
#include <unordered_map>
#include <vector>

namespace flashstream {
namespace {

struct ExpectedTensor {
  std::string name;
  Shape shape;
  bool required;
};

// Tensors of the canonical decoder (see model_index.h) and their shapes for `c`, as GGUF
// stores them (experts stacked).
std::vector<ExpectedTensor> CanonicalTensors(const ModelConfig& c) {
  const int64_t e = c.n_embd;
  const int64_t q = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv = int64_t{c.n_kv_heads} * c.head_dim;
  std::vector<ExpectedTensor> out = {
      {"token_embd.weight", MakeShape({c.vocab_size, e}), true},
      {"output_norm.weight", MakeShape({e}), true},
      {"output.weight", MakeShape({c.vocab_size, e}), false},
  };
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    out.push_back({p + "attn_norm.weight", MakeShape({e}), true});
    out.push_back({p + "attn_q.weight", MakeShape({q, e}), true});
    out.push_back({p + "attn_k.weight", MakeShape({kv, e}), true});
    out.push_back({p + "attn_v.weight", MakeShape({kv, e}), true});
    out.push_back({p + "attn_output.weight", MakeShape({e, q}), true});
    out.push_back({p + "ffn_norm.weight", MakeShape({e}), true});
    if (c.n_expert > 0) {  // stacked experts; older files hold per-expert ffn_*.{e}.weight instead
      const int64_t n_exp = c.n_expert, ff = c.n_ff_expert;
      out.push_back({p + "ffn_gate_inp.weight", MakeShape({n_exp, e}), true});
      out.push_back({p + "ffn_gate_exps.weight", MakeShape({n_exp, ff, e}), false});
      out.push_back({p + "ffn_up_exps.weight", MakeShape({n_exp, ff, e}), false});
      out.push_back({p + "ffn_down_exps.weight", MakeShape({n_exp, e, ff}), false});
      continue;
    }
    out.push_back({p + "ffn_gate.weight", MakeShape({c.n_ff, e}), true});
    out.push_back({p + "ffn_up.weight", MakeShape({c.n_ff, e}), true});
    out.push_back({p + "ffn_down.weight", MakeShape({e, c.n_ff}), true});
  }
  return out;
}

// "blk.N.ffn_gate_exps.weight" -> "blk.N.ffn_gate" (the per-expert stem), else "".
std::string StackedExpertStem(const std::string& name) {
  constexpr std::string_view kSuffix = "_exps.weight";
  if (name.rfind("blk.", 0) != 0 || name.size() <= kSuffix.size() ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return "";
  }
  return name.substr(0, name.size() - kSuffix.size());
}

// Appends tensor t to the index; a stacked expert tensor [n_expert, rows, cols] becomes one
// entry per expert ("blk.N.ffn_gate.{e}.weight"), each a contiguous slice of the file.
Status AddTensor(const GgufFile& f, const GgufTensorInfo& t, int n_expert, ModelIndex* index) {
  const std::string stem = StackedExpertStem(t.name);
  if (stem.empty()) {
    index->tensors.push_back({t.name, t.dtype, t.shape, 0, f.data_start + t.offset, t.bytes, {}, {}, 0});
    return Status::Ok();
  }
  if (t.shape.rank != 3 || t.shape[0] != n_expert || n_expert == 0) {
    return Errorf("{}: tensor '{}' has shape {}, expected [{}, rows, cols] (key expert_count)", f.path, t.name,
                  t.shape.ToString(), n_expert);
  }
  const uint64_t slice = RowBytes(t.dtype, t.shape[2]) * static_cast<uint64_t>(t.shape[1]);
  if (slice * static_cast<uint64_t>(n_expert) != t.bytes) {
    return Errorf("{}: tensor '{}' holds {} bytes, expected {} experts of {}", f.path, t.name, t.bytes, n_expert,
                  slice);
  }
  for (int e = 0; e < n_expert; ++e) {
    index->tensors.push_back({stem + "." + std::to_string(e) + ".weight",
                              t.dtype,
                              MakeShape({t.shape[1], t.shape[2]}),
                              0,
                              f.data_start + t.offset + slice * static_cast<uint64_t>(e),
                              slice,
                              {},
                              {},
                              0});
  }
  return Status::Ok();
}

// Layer number of a "blk.N.*" name, or -1.
int64_t LayerOf(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int64_t layer = -1;
  const char* begin = name.data() + 4;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(begin, end, layer);
  if (ec != std::errc() || ptr == begin || ptr == end || *ptr != '.') return -1;
  return layer;
}

Status CheckTensors(const GgufFile& f, const ModelConfig& c) {
  std::unordered_map<std::string_view, const GgufTensorInfo*> by_name;
  for (const GgufTensorInfo& t : f.tensors) {
    by_name.emplace(t.name, &t);
    const int64_t layer = LayerOf(t.name);
    if (layer >= c.n_layers) {
      return Errorf("{}: tensor '{}' belongs to layer {} but '{}.block_count' is {}", f.path, t.name, layer, c.arch,
                    c.n_layers);
    }
  }
  for (const ExpectedTensor& want : CanonicalTensors(c)) {
    auto it = by_name.find(want.name);
    if (it == by_name.end()) {
      if (!want.required) continue;
      return Errorf("{}: required tensor '{}' is missing (arch {}, {} layers)", f.path, want.name, c.arch, c.n_layers);
    }
    const GgufTensorInfo& t = *it->second;
    if (!(t.shape == want.shape)) {
      return Errorf("{}: tensor '{}' has shape {}, expected {} (n_embd {}, n_ff {}, heads {}/{} of {}, vocab {})",
                    f.path, t.name, t.shape.ToString(), want.shape.ToString(), c.n_embd, c.n_ff, c.n_heads,
                    c.n_kv_heads, c.head_dim, c.vocab_size);
    }
    if (want.shape.rank == 1 && IsQuantized(t.dtype)) {
      return Errorf("{}: tensor '{}' has dtype {}, expected f32, f16 or bf16", f.path, t.name, Name(t.dtype));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ModelIndex> ModelIndexFromGguf(const GgufFile& f) {
  ModelIndex index;
  index.format = "gguf";
  index.files = {f.path};
  // The tokenizer first: its errors are more specific than the vocab-size fallback's.
  FS_ASSIGN_OR_RETURN(index.tokenizer, TokenizerFromGguf(f));
  FS_ASSIGN_OR_RETURN(index.config, ConfigFromGguf(f));
  if (index.tokenizer.tokens.size() > static_cast<size_t>(index.config.vocab_size)) {
    return Errorf(
        "{}: key 'tokenizer.ggml.tokens' has {} tokens, more than the vocabulary size {} of key '{}.vocab_size'",
        f.path, index.tokenizer.tokens.size(), index.config.vocab_size, index.config.arch);
  }
  FS_RETURN_IF_ERROR(CheckTensors(f, index.config));
  index.tensors.reserve(f.tensors.size());
  for (const GgufTensorInfo& t : f.tensors) FS_RETURN_IF_ERROR(AddTensor(f, t, index.config.n_expert, &index));
  for (const auto& [key, value] : f.kv) index.metadata.emplace(key, value.ToString());
  return index;
}

Result<ModelIndex> ReadGgufModel(const std::string& path) {
  FS_ASSIGN_OR_RETURN(GgufFile f, ReadGgufFile(path));
  return ModelIndexFromGguf(f);
}

Result<TokenizerSpec> ReadGgufTokenizer(const std::string& path) {
  FS_ASSIGN_OR_RETURN(GgufFile f, ReadGgufFile(path));
  return TokenizerFromGguf(f);
}

}  // namespace flashstream
