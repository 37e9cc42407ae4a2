#include "formats/hf_model.h"

#include <sys/stat.h>  // stat: folder and file checks

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>  // model.safetensors.index.json
#include <set>
#include <unordered_map>

#include "formats/hf_config.h"
#include "formats/hf_names.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"
#include "io/file.h"  // File::ReadAt

namespace flashstream {
namespace {

constexpr uint64_t kMaxJsonBytes = 100ull << 20;

bool IsFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> ReadSmallFile(const std::string& path) {
  FS_ASSIGN_OR_RETURN(File f, File::Open(path));
  if (f.size() > kMaxJsonBytes)
    return Errorf("{}: {} bytes, more than the {} byte limit", path, f.size(), kMaxJsonBytes);
  std::string text(f.size(), '\0');
  FS_RETURN_IF_ERROR(f.ReadAt(0, text.data(), text.size()));
  return text;
}

// Shard file names and which tensors each must hold: index.json's weight_map,
// or the single model.safetensors (an empty tensor list: whatever it holds).
struct ShardPlan {
  std::vector<std::string> files;               // relative names
  std::map<std::string, std::string> expected;  // tensor -> file (sharded only)
};

Result<ShardPlan> PlanShards(const std::string& folder) {
  ShardPlan plan;
  const std::string index_path = folder + "/model.safetensors.index.json";
  if (!IsFile(index_path)) {
    if (!IsFile(folder + "/model.safetensors")) {
      return Errorf(
          "{}: neither model.safetensors nor "
          "model.safetensors.index.json is present",
          folder);
    }
    plan.files.push_back("model.safetensors");
    return plan;
  }
  FS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path));
  nlohmann::json root = nlohmann::json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) return Errorf("{}: not a JSON object", index_path);
  auto map = root.find("weight_map");
  if (map == root.end() || !map->is_object())
    return Errorf("{}: key 'weight_map' is missing or not an object", index_path);
  std::set<std::string> seen;
  for (const auto& [name, file] : map->items()) {
    if (!file.is_string()) return Errorf("{}: weight_map entry '{}' is not a file name", index_path, name);
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") {
      return Errorf(
          "{}: weight_map entry '{}' names '{}', expected a file in "
          "the same folder",
          index_path, name, f);
    }
    plan.expected.emplace(name, f);
    if (seen.insert(f).second) plan.files.push_back(f);
  }
  for (const std::string& f : plan.files) {
    if (!IsFile(folder + "/" + f))
      return Errorf("{}: shard '{}' named by model.safetensors.index.json is missing", folder, f);
  }
  return plan;
}

Result<DType> FloatDType(const SafetensorsFile& f, const SafetensorsTensor& t) {
  switch (t.dtype) {
    case StDType::kF32:
      return DType::kF32;
    case StDType::kF16:
      return DType::kF16;
    case StDType::kBF16:
      return DType::kBF16;
    default:
      break;
  }
  return Errorf("{}: tensor '{}' has dtype {}, expected F32, F16 or BF16", f.path, t.name, StDTypeName(t.dtype));
}

Shape ToShape(const std::vector<int64_t>& dims) {
  Shape s;
  s.rank = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) s.dims[i] = dims[i];
  return s;
}

struct Found {
  int file;
  const SafetensorsTensor* t;
};

// Builds the quantized weight and its companions; `module` is the HF module
// path.
Status AddQuantized(const std::vector<SafetensorsFile>& files, const std::string& module, const std::string& canonical,
                    const Found& w, const Found* scales, const Found* biases, MlxQuantSetting q,
                    std::vector<TensorInfo>* out) {
  const SafetensorsFile& f = files[static_cast<size_t>(w.file)];
  const std::string wname = module + ".weight";
  if (scales == nullptr || biases == nullptr) {
    return Errorf("{}: tensor '{}' is quantized ({} bits) but '{}.{}' is missing", f.path, wname, q.bits, module,
                  scales == nullptr ? "scales" : "biases");
  }
  if (w.t->dtype != StDType::kU32 || w.t->shape.size() != 2) {
    return Errorf(
        "{}: tensor '{}' has dtype {} rank {}, expected U32 rank 2 "
        "(packed {}-bit codes)",
        f.path, wname, StDTypeName(w.t->dtype), w.t->shape.size(), q.bits);
  }
  const int64_t rows = w.t->shape[0], cols = w.t->shape[1] * (32 / q.bits);
  if (cols % q.group_size != 0) {
    return Errorf(
        "{}: tensor '{}': {} inputs ({} words of {} bits) are not a "
        "multiple of group_size {} "
        "(quantization config inconsistent with tensor shapes)",
        f.path, wname, cols, w.t->shape[1], q.bits, q.group_size);
  }
  const std::vector<int64_t> aux_shape = {rows, cols / q.group_size};
  for (const Found* a : {scales, biases}) {
    const SafetensorsFile& af = files[static_cast<size_t>(a->file)];
    if (a->t->shape != aux_shape) {
      return Errorf(
          "{}: tensor '{}' has shape {}, expected [{}, {}] for "
          "{}-bit groups of {} over [{}, {}] "
          "(quantization config inconsistent with tensor shapes)",
          af.path, a->t->name, ToShape(a->t->shape).ToString(), rows, cols / q.group_size, q.bits, q.group_size, rows,
          cols);
    }
    if (a->t->dtype != scales->t->dtype) {
      return Errorf("{}: tensor '{}' has dtype {}, expected {} like its scales", af.path, a->t->name,
                    StDTypeName(a->t->dtype), StDTypeName(scales->t->dtype));
    }
  }
  FS_ASSIGN_OR_RETURN(DType aux, FloatDType(files[static_cast<size_t>(scales->file)], *scales->t));
  const std::string base = canonical.substr(0, canonical.size() - std::string_view(".weight").size());
  TensorInfo ti;
  ti.name = canonical;
  ti.dtype = q.bits == 4 ? DType::kMlxQ4 : DType::kMlxQ8;
  ti.shape = MakeShape({rows, cols});
  ti.file = w.file;
  ti.offset = w.t->offset;
  ti.bytes = w.t->bytes;
  ti.scales = base + ".scales";
  ti.biases = base + ".biases";
  ti.group_size = q.group_size;
  out->push_back(ti);
  for (const auto& [a, suffix] : {std::pair{scales, ".scales"}, std::pair{biases, ".biases"}}) {
    out->push_back({base + suffix, aux, ToShape(a->t->shape), a->file, a->t->offset, a->t->bytes, {}, {}, 0});
  }
  return Status::Ok();
}

// mlx-lm's switch_mlp: a stacked weight [n_expert, rows, cols] (quantized: packed U32 with
// [n_expert, rows, groups] scales and biases) becomes one entry per expert,
// "blk.N.ffn_gate.{e}.weight" (+ ".scales", ".biases"), each a contiguous slice of the file, as
// GGUF's stacked experts are read. `canonical` is "blk.N.ffn_{gate,up,down}_exps.weight".
Status AddStackedExperts(const std::vector<SafetensorsFile>& files,
                         const std::unordered_map<std::string, Found>& by_name, const std::string& module,
                         const std::string& canonical, const Found& w, MlxQuantSetting q, int n_expert, bool* quantized,
                         std::vector<TensorInfo>* out) {
  const std::string stem = canonical.substr(0, canonical.size() - std::string_view("_exps.weight").size());
  auto slice = [&](const Found& f, int e, SafetensorsTensor* part) -> Status {
    const SafetensorsTensor& t = *f.t;
    if (t.shape.size() != 3 || t.shape[0] != n_expert) {
      return Errorf("{}: tensor '{}' has shape {}, expected [{}, rows, cols] (config.json's expert count)",
                    files[static_cast<size_t>(f.file)].path, t.name, ToShape(t.shape).ToString(), n_expert);
    }
    *part = t;
    part->shape.erase(part->shape.begin());
    part->bytes = t.bytes / static_cast<uint64_t>(n_expert);
    part->offset = t.offset + part->bytes * static_cast<uint64_t>(e);
    return Status::Ok();
  };
  auto scales = by_name.find(module + ".scales");
  auto biases = by_name.find(module + ".biases");
  const bool packed = w.t->dtype == StDType::kU32;
  const bool quant = q.bits != 0 && (packed || scales != by_name.end());  // else a float weight
  if ((packed || scales != by_name.end()) && !quant) {
    return Errorf("{}: tensor '{}' is {} but config.json has no quantization setting for '{}'",
                  files[static_cast<size_t>(w.file)].path, w.t->name, packed ? "packed U32" : "accompanied by scales",
                  module);
  }
  for (int e = 0; e < n_expert; ++e) {
    const std::string name = stem + "." + std::to_string(e) + ".weight";
    SafetensorsTensor wt;
    FS_RETURN_IF_ERROR(slice(w, e, &wt));
    if (!quant) {
      FS_ASSIGN_OR_RETURN(DType dtype, FloatDType(files[static_cast<size_t>(w.file)], wt));
      out->push_back({name, dtype, ToShape(wt.shape), w.file, wt.offset, wt.bytes, {}, {}, 0});
      continue;
    }
    SafetensorsTensor st, bt;
    Found fs{}, fb{};
    if (scales != by_name.end()) {
      FS_RETURN_IF_ERROR(slice(scales->second, e, &st));
      fs = {scales->second.file, &st};
    }
    if (biases != by_name.end()) {
      FS_RETURN_IF_ERROR(slice(biases->second, e, &bt));
      fb = {biases->second.file, &bt};
    }
    FS_RETURN_IF_ERROR(AddQuantized(files, module, name, Found{w.file, &wt}, scales != by_name.end() ? &fs : nullptr,
                                    biases != by_name.end() ? &fb : nullptr, q, out));
    *quantized = true;
  }
  return Status::Ok();
}

// Shapes the config implies for the tensors every decoder has (dtype/shape vs
// config.json).
Status CheckShapes(const ModelIndex& index, const std::string& folder) {
  const ModelConfig& c = index.config;
  const int64_t e = c.n_embd, q = int64_t{c.n_heads} * c.head_dim, kv = int64_t{c.n_kv_heads} * c.head_dim;
  std::vector<std::pair<std::string, Shape>> want = {{"token_embd.weight", MakeShape({c.vocab_size, e})},
                                                     {"output_norm.weight", MakeShape({e})}};
  if (!c.tied_embeddings) want.push_back({"output.weight", MakeShape({c.vocab_size, e})});
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    want.push_back({p + "attn_norm.weight", MakeShape({e})});
    want.push_back({p + "attn_q.weight", MakeShape({q, e})});
    want.push_back({p + "attn_k.weight", MakeShape({kv, e})});
    want.push_back({p + "attn_v.weight", MakeShape({kv, e})});
    want.push_back({p + "attn_output.weight", MakeShape({e, q})});
    want.push_back({p + "ffn_norm.weight", MakeShape({e})});
    if (c.n_expert > 0) {  // experts: checked with the model (models/moe_block.h)
      want.push_back({p + "ffn_gate_inp.weight", MakeShape({c.n_expert, e})});
      continue;
    }
    want.push_back({p + "ffn_gate.weight", MakeShape({c.n_ff, e})});
    want.push_back({p + "ffn_up.weight", MakeShape({c.n_ff, e})});
    want.push_back({p + "ffn_down.weight", MakeShape({e, c.n_ff})});
  }
  for (const auto& [name, shape] : want) {
    const TensorInfo* t = index.Find(name);
    const std::string hf =
        HfFromCanonical(name, c.arch == "gemma3", c.arch == "llama" && c.n_expert > 0).value_or(name);
    if (t == nullptr) return Errorf("{}: required tensor '{}' ({}) is missing", folder, hf, name);
    if (!(t->shape == shape)) {
      return Errorf("{}: tensor '{}' has shape {}, expected {} from config.json",
                    index.files.at(static_cast<size_t>(t->file)), hf, t->shape.ToString(), shape.ToString());
    }
    if (shape.rank == 1 && IsMlx(t->dtype)) {
      return Errorf("{}: tensor '{}' is quantized, expected F32, F16 or BF16 for a norm",
                    index.files.at(static_cast<size_t>(t->file)), hf);
    }
  }
  for (const TensorInfo& t : index.tensors) {
    if (t.shape.rank > 2) {
      return Errorf("{}: tensor '{}' has rank {}, expected 1 or 2", index.files.at(static_cast<size_t>(t.file)), t.name,
                    t.shape.rank);
    }
    if (t.name.rfind("blk.", 0) == 0 && std::atoi(t.name.c_str() + 4) >= c.n_layers) {
      return Errorf("{}: tensor '{}' belongs to a layer past num_hidden_layers {}",
                    index.files.at(static_cast<size_t>(t.file)), t.name, c.n_layers);
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsHfFolder(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && IsFile(path + "/config.json");
}

// tokenizer.json (+ tokenizer_config.json) when present; a folder without one still evaluates
// token ids (`run` then says it has no tokenizer).
Result<TokenizerSpec> ReadFolderTokenizer(const std::string& folder) {
  if (!IsFile(folder + "/tokenizer.json")) return TokenizerSpec{};
  return ReadHfTokenizer(folder);
}

Result<ModelIndex> ReadHfModel(const std::string& folder) {
  const std::string config_path = folder + "/config.json";
  if (!IsFile(config_path)) return Errorf("{}: config.json is missing", folder);
  FS_ASSIGN_OR_RETURN(std::string config_text, ReadSmallFile(config_path));
  FS_ASSIGN_OR_RETURN(HfConfig hf, ParseHfConfig(config_text, config_path));
  FS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShards(folder));
  ModelIndex index;
  index.config = hf.config;
  index.metadata = hf.metadata;
  std::vector<SafetensorsFile> files;
  std::unordered_map<std::string, Found> by_name;
  for (const std::string& name : plan.files) {
    const std::string path = folder + "/" + name;
    FS_ASSIGN_OR_RETURN(SafetensorsFile f, ReadSafetensorsHeader(path));
    index.files.push_back(path);
    files.push_back(std::move(f));
  }
  for (size_t fi = 0; fi < files.size(); ++fi) {
    for (const SafetensorsTensor& t : files[fi].tensors) {
      if (!by_name.emplace(t.name, Found{static_cast<int>(fi), &t}).second) {
        return Errorf("{}: tensor '{}' appears in two shards", files[fi].path, t.name);
      }
    }
  }
  for (const auto& [name, file] : plan.expected) {
    auto it = by_name.find(name);
    if (it == by_name.end() || files[static_cast<size_t>(it->second.file)].path != folder + "/" + file) {
      return Errorf(
          "{}/model.safetensors.index.json: tensor '{}' is mapped to "
          "'{}' but that shard does not hold it",
          folder, name, file);
    }
  }
  const bool gemma3 = hf.config.arch == "gemma3";
  bool any_quantized = false;
  // Tensors in file order (shard by shard, offset order), each quantized module
  // once.
  for (size_t fi = 0; fi < files.size(); ++fi) {
    for (const SafetensorsTensor& t : files[fi].tensors) {
      std::optional<std::string> canonical = CanonicalFromHf(t.name, gemma3);
      if (!canonical) {
        index.metadata["hf.ignored_tensors"] += index.metadata["hf.ignored_tensors"].empty() ? t.name : ", " + t.name;
        continue;
      }
      const std::string_view suffix = std::string_view(t.name).substr(t.name.rfind('.') + 1);
      if (suffix == "scales" || suffix == "biases") continue;  // added with their weight
      const std::string module = t.name.substr(0, t.name.rfind('.'));
      if (suffix == "weight" && canonical->ends_with("_exps.weight")) {
        FS_RETURN_IF_ERROR(AddStackedExperts(files, by_name, module, *canonical, Found{static_cast<int>(fi), &t},
                                             hf.quant.For(module), hf.config.n_expert, &any_quantized, &index.tensors));
        continue;
      }
      // Only a module's weight is quantized; its linear bias (Qwen2's q_proj.bias) sits beside
      // the weight's scales and biases as a plain float tensor.
      auto scales = suffix == "weight" ? by_name.find(module + ".scales") : by_name.end();
      const MlxQuantSetting q = suffix == "weight" ? hf.quant.For(module) : MlxQuantSetting{};
      const bool packed = t.dtype == StDType::kU32;
      if (q.bits != 0 && (packed || scales != by_name.end())) {
        auto biases = by_name.find(module + ".biases");
        FS_RETURN_IF_ERROR(AddQuantized(files, module, *canonical, Found{static_cast<int>(fi), &t},
                                        scales == by_name.end() ? nullptr : &scales->second,
                                        biases == by_name.end() ? nullptr : &biases->second, q, &index.tensors));
        any_quantized = true;
        continue;
      }
      if (packed || scales != by_name.end()) {
        return Errorf(
            "{}: tensor '{}' is {} but config.json has no "
            "quantization setting for '{}'",
            files[fi].path, t.name, packed ? "packed U32" : "accompanied by scales", module);
      }
      FS_ASSIGN_OR_RETURN(DType dtype, FloatDType(files[fi], t));
      if (t.shape.size() > static_cast<size_t>(kMaxDims)) {
        return Errorf("{}: tensor '{}' has {} dims, at most {} supported", files[fi].path, t.name, t.shape.size(),
                      kMaxDims);
      }
      index.tensors.push_back(
          {*canonical, dtype, ToShape(t.shape), static_cast<int>(fi), t.offset, t.bytes, {}, {}, 0});
    }
  }
  index.format = any_quantized ? "mlx" : "safetensors";
  const bool has_head = index.Find("output.weight") != nullptr;
  if (!has_head && hf.tie_given && !hf.config.tied_embeddings) {
    return Errorf(
        "{}: config.json says tie_word_embeddings = false but "
        "lm_head.weight is missing",
        folder);
  }
  index.config.tied_embeddings = !has_head;
  FS_RETURN_IF_ERROR(CheckShapes(index, folder));
  FS_ASSIGN_OR_RETURN(index.tokenizer, ReadFolderTokenizer(folder));
  index.metadata["format"] = index.format;
  return index;
}

}  // namespace flashstream
