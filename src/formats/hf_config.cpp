#include "formats/hf_config.h"

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>  // config.json

namespace flashstream {
namespace {

using Json = nlohmann::json;

struct ModelType {
  std::string_view hf;    // config.json model_type
  std::string_view arch;  // ModelConfig::arch
  bool tied_default;      // tie_word_embeddings when absent
};
constexpr std::array<ModelType, 9> kTypes = {{
    {"llama", "llama", false},
    {"mistral", "mistral", false},
    {"qwen2", "qwen2", false},
    {"qwen3", "qwen3", false},
    {"gemma3", "gemma3", true},
    {"gemma3_text", "gemma3", true},
    {"mixtral", "llama", false},  // llama.cpp's convention: Mixtral is llama with experts
    {"qwen2_moe", "qwen2moe", false},
    {"qwen3_moe", "qwen3moe", false},
}};

// Reads integer key `key` of `obj` into *out, range [lo, hi]. Absent: error
// when required.
Status GetInt(const Json& obj, const char* key, const std::string& path, int64_t lo, int64_t hi, bool required,
              int* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Errorf("{}: key '{}' is missing", path, key);
    return Status::Ok();
  }
  if (!it->is_number_integer()) return Errorf("{}: key '{}' is {}, expected an integer", path, key, it->dump());
  const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                        ? INT64_MAX
                        : it->get<int64_t>();
  if (v < lo || v > hi) return Errorf("{}: key '{}' is {}, expected {}..{}", path, key, v, lo, hi);
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status GetFloat(const Json& obj, const char* key, const std::string& path, double lo, double hi, float* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return Errorf("{}: key '{}' is {}, expected a number", path, key, it->dump());
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) return Errorf("{}: key '{}' is {}, expected {}..{}", path, key, v, lo, hi);
  *out = static_cast<float>(v);
  return Status::Ok();
}

// Mixture-of-experts keys of the mixtral / qwen2_moe / qwen3_moe configs.
Status ParseExperts(const Json& cfg, const std::string& path, bool mixtral, ModelConfig* c) {
  // Released Qwen configs say num_experts; Mixtral's and transformers 5's say num_local_experts.
  const bool local = mixtral || cfg.contains("num_local_experts");
  FS_RETURN_IF_ERROR(GetInt(cfg, local ? "num_local_experts" : "num_experts", path, 1, 1024, true, &c->n_expert));
  FS_RETURN_IF_ERROR(GetInt(cfg, "num_experts_per_tok", path, 1, c->n_expert, true, &c->n_expert_used));
  c->n_ff_expert = c->n_ff;
  if (!mixtral) FS_RETURN_IF_ERROR(GetInt(cfg, "moe_intermediate_size", path, 1, 1 << 22, true, &c->n_ff_expert));
  FS_RETURN_IF_ERROR(GetInt(cfg, "shared_expert_intermediate_size", path, 0, 1 << 22, false, &c->n_ff_shared));
  c->expert_weights_norm = true;  // Mixtral always renormalizes
  if (!mixtral) {
    auto norm = cfg.find("norm_topk_prob");
    c->expert_weights_norm = false;  // transformers' Qwen2-MoE default
    if (norm != cfg.end() && !norm->is_null()) {
      if (!norm->is_boolean())
        return Errorf("{}: key 'norm_topk_prob' is {}, expected true or false", path, norm->dump());
      c->expert_weights_norm = norm->get<bool>();
    }
  }
  int sparse_step = 1;
  FS_RETURN_IF_ERROR(GetInt(cfg, "decoder_sparse_step", path, 0, 4096, false, &sparse_step));
  if (sparse_step != 1) {
    return Errorf("{}: key 'decoder_sparse_step' is {}, expected 1 (every layer a mixture of experts)", path,
                  sparse_step);
  }
  auto dense = cfg.find("mlp_only_layers");
  if (dense != cfg.end() && !dense->is_null() && !(dense->is_array() && dense->empty())) {
    return Errorf("{}: key 'mlp_only_layers' is {}, expected [] (every layer a mixture of experts)", path,
                  dense->dump());
  }
  return Status::Ok();
}

Result<MlxQuantSetting> ParseSetting(const Json& q, const std::string& path, const std::string& where) {
  MlxQuantSetting s;
  if (q.is_boolean()) {
    if (q.get<bool>()) return Errorf("{}: '{}' is true, expected an object or false", path, where);
    return s;
  }
  if (!q.is_object()) return Errorf("{}: '{}' is {}, expected an object", path, where, q.dump());
  const std::string gk = where + ".group_size", bk = where + ".bits";
  auto g = q.find("group_size"), b = q.find("bits");
  if (g == q.end() || !g->is_number_integer()) return Errorf("{}: '{}' is missing or not an integer", path, gk);
  if (b == q.end() || !b->is_number_integer()) return Errorf("{}: '{}' is missing or not an integer", path, bk);
  const int64_t gv = g->get<int64_t>(), bv = b->get<int64_t>();
  if (gv != 32 && gv != 64 && gv != 128) return Errorf("{}: '{}' is {}, expected 32, 64 or 128", path, gk, gv);
  if (bv != 4 && bv != 8)
    return Errorf("{}: '{}' is {}, expected 4 or 8 (the bit widths flashstream computes)", path, bk, bv);
  auto mode = q.find("mode");
  if (mode != q.end() && !(mode->is_string() && mode->get<std::string>() == "affine")) {
    return Errorf("{}: '{}.mode' is {}, expected \"affine\"", path, where, mode->dump());
  }
  s.group_size = static_cast<int>(gv);
  s.bits = static_cast<int>(bv);
  return s;
}

Status ParseQuant(const Json& q, const std::string& path, const char* key, MlxQuantConfig* out) {
  if (!q.is_object()) return Errorf("{}: '{}' is {}, expected an object", path, key, q.dump());
  FS_ASSIGN_OR_RETURN(out->base, ParseSetting(q, path, key));
  for (const auto& [k, v] : q.items()) {
    if (k == "group_size" || k == "bits" || k == "mode") continue;
    if (!v.is_object() && !v.is_boolean()) continue;  // other settings (e.g. "quant_method") are not per-module
    FS_ASSIGN_OR_RETURN(MlxQuantSetting s, ParseSetting(v, path, std::string(key) + "." + k));
    out->overrides.emplace(k, s);
  }
  return Status::Ok();
}

Status ParseRopeScaling(const Json& rs, const std::string& path, ModelConfig* c) {
  if (rs.is_null()) return Status::Ok();
  if (!rs.is_object()) return Errorf("{}: 'rope_scaling' is {}, expected an object or null", path, rs.dump());
  std::string type;
  for (const char* k : {"rope_type", "type"}) {
    auto it = rs.find(k);
    if (it != rs.end() && it->is_string()) type = it->get<std::string>();
  }
  if (type == "default") return Status::Ok();
  if (type != "llama3")
    return Errorf(
        "{}: 'rope_scaling.rope_type' is '{}', expected llama3 (the "
        "one supported)",
        path, type);
  c->rope_scale_factor = 0.f;
  FS_RETURN_IF_ERROR(GetFloat(rs, "factor", path, 1.0, 1e6, &c->rope_scale_factor));
  if (c->rope_scale_factor == 0.f) return Errorf("{}: 'rope_scaling.factor' is missing", path);
  FS_RETURN_IF_ERROR(GetFloat(rs, "low_freq_factor", path, 1e-6, 1e6, &c->rope_low_freq_factor));
  FS_RETURN_IF_ERROR(GetFloat(rs, "high_freq_factor", path, 1e-6, 1e6, &c->rope_high_freq_factor));
  if (c->rope_high_freq_factor <= c->rope_low_freq_factor) {
    return Errorf("{}: 'rope_scaling.high_freq_factor' {} must exceed low_freq_factor {}", path,
                  c->rope_high_freq_factor, c->rope_low_freq_factor);
  }
  return GetInt(rs, "original_max_position_embeddings", path, 1, 1 << 24, true, &c->rope_original_context);
}

}  // namespace

MlxQuantSetting MlxQuantConfig::For(const std::string& module) const {
  auto it = overrides.find(module);
  return it != overrides.end() ? it->second : base;
}

Result<HfConfig> ParseHfConfig(std::string_view json, const std::string& path) {
  Json root = Json::parse(json.begin(), json.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded()) return Errorf("{}: not valid JSON", path);
  if (!root.is_object()) return Errorf("{}: is {}, expected a JSON object", path, root.type_name());
  HfConfig out;
  auto mt = root.find("model_type");
  if (mt == root.end() || !mt->is_string()) return Errorf("{}: key 'model_type' is missing or not a string", path);
  out.model_type = mt->get<std::string>();
  const ModelType* type = nullptr;
  for (const ModelType& t : kTypes) {
    if (t.hf == out.model_type) type = &t;
  }
  if (type == nullptr) {
    return Errorf(
        "{}: model_type '{}' is not supported (llama, mistral, "
        "qwen2, qwen3, gemma3, gemma3_text, mixtral, qwen2_moe, qwen3_moe)",
        path, out.model_type);
  }
  // Multimodal Gemma 3 checkpoints keep the language model's settings in
  // "text_config".
  const Json* cfg = &root;
  auto text = root.find("text_config");
  if (text != root.end() && text->is_object()) cfg = &*text;
  ModelConfig& c = out.config;
  c.arch = std::string(type->arch);
  c.rope_interleaved = false;
  c.tied_embeddings = type->tied_default;
  FS_RETURN_IF_ERROR(GetInt(*cfg, "num_hidden_layers", path, 1, 4096, true, &c.n_layers));
  FS_RETURN_IF_ERROR(GetInt(*cfg, "hidden_size", path, 1, 1 << 20, true, &c.n_embd));
  FS_RETURN_IF_ERROR(GetInt(*cfg, "intermediate_size", path, 1, 1 << 22, true, &c.n_ff));
  FS_RETURN_IF_ERROR(GetInt(*cfg, "num_attention_heads", path, 1, 4096, true, &c.n_heads));
  c.n_kv_heads = c.n_heads;
  FS_RETURN_IF_ERROR(GetInt(*cfg, "num_key_value_heads", path, 1, 4096, false, &c.n_kv_heads));
  FS_RETURN_IF_ERROR(GetInt(*cfg, "vocab_size", path, 1, 1 << 24, true, &c.vocab_size));
  FS_RETURN_IF_ERROR(GetInt(*cfg, "max_position_embeddings", path, 1, 1 << 24, false, &c.context_length));
  if (c.n_heads % c.n_kv_heads != 0) {
    return Errorf(
        "{}: num_attention_heads {} is not a multiple of "
        "num_key_value_heads {}",
        path, c.n_heads, c.n_kv_heads);
  }
  c.head_dim = 0;
  FS_RETURN_IF_ERROR(GetInt(*cfg, "head_dim", path, 2, 4096, false, &c.head_dim));
  if (c.head_dim == 0) {
    if (c.n_embd % c.n_heads != 0) {
      return Errorf(
          "{}: hidden_size {} is not a multiple of "
          "num_attention_heads {} and head_dim is absent",
          path, c.n_embd, c.n_heads);
    }
    c.head_dim = c.n_embd / c.n_heads;
  }
  if (c.head_dim % 2 != 0) return Errorf("{}: head_dim {} is odd, expected even (RoPE pairs)", path, c.head_dim);
  FS_RETURN_IF_ERROR(GetFloat(*cfg, "rms_norm_eps", path, 0.0, 1.0, &c.rms_eps));
  FS_RETURN_IF_ERROR(GetFloat(*cfg, "rope_theta", path, 1.0, 1e12, &c.rope_theta));
  auto rope_params = cfg->find("rope_parameters");  // transformers 5 nests the base here
  if (rope_params != cfg->end() && rope_params->is_object() && cfg->find("rope_theta") == cfg->end()) {
    FS_RETURN_IF_ERROR(GetFloat(*rope_params, "rope_theta", path, 1.0, 1e12, &c.rope_theta));
  }
  if (out.model_type == "mixtral" || out.model_type == "qwen2_moe" || out.model_type == "qwen3_moe") {
    FS_RETURN_IF_ERROR(ParseExperts(*cfg, path, out.model_type == "mixtral", &c));
  }
  auto rs = cfg->find("rope_scaling");
  if (rs != cfg->end()) FS_RETURN_IF_ERROR(ParseRopeScaling(*rs, path, &c));
  for (const Json* obj : {static_cast<const Json*>(&root), cfg}) {
    auto tie = obj->find("tie_word_embeddings");
    if (tie == obj->end() || tie->is_null()) continue;
    if (!tie->is_boolean())
      return Errorf("{}: key 'tie_word_embeddings' is {}, expected true or false", path, tie->dump());
    c.tied_embeddings = tie->get<bool>();
    out.tie_given = true;
  }
  for (const char* key : {"quantization", "quantization_config"}) {
    auto q = root.find(key);
    if (q == root.end()) continue;
    FS_RETURN_IF_ERROR(ParseQuant(*q, path, key, &out.quant));
    break;
  }
  auto name = root.find("_name_or_path");
  if (name != root.end() && name->is_string()) c.name = name->get<std::string>();
  for (const auto& [k, v] : cfg->items()) {
    if (v.is_primitive()) out.metadata.emplace("config." + k, v.dump());
  }
  return out;
}

}  // namespace flashstream
