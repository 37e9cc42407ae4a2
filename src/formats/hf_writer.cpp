#include "formats/hf_writer.h"

#include <nlohmann/json.hpp>  // config.json

#include "io/file.h"  // FileWriter

namespace flashstream {

Status WriteHfConfig(const ModelConfig& c, const std::string& torch_dtype, const MlxQuantConfig& quant,
                     const std::string& path) {
  static const std::map<std::string, std::string> kClass = {{"llama", "LlamaForCausalLM"},
                                                            {"mistral", "MistralForCausalLM"},
                                                            {"qwen2", "Qwen2ForCausalLM"},
                                                            {"qwen3", "Qwen3ForCausalLM"},
                                                            {"gemma3", "Gemma3ForCausalLM"}};
  // Mixture-of-experts model types (Mixtral is "llama" with experts, see hf_config.cpp).
  static const std::map<std::string, std::pair<std::string, std::string>> kMoeType = {
      {"llama", {"mixtral", "MixtralForCausalLM"}},
      {"qwen2moe", {"qwen2_moe", "Qwen2MoeForCausalLM"}},
      {"qwen3moe", {"qwen3_moe", "Qwen3MoeForCausalLM"}}};
  auto cls = kClass.find(c.arch);
  auto moe = kMoeType.find(c.arch);
  const bool is_moe = c.n_expert > 0 && moe != kMoeType.end();
  if (cls == kClass.end() && !is_moe) {
    return Errorf("{}: architecture '{}' has no Hugging Face config mapping", path, c.arch);
  }
  nlohmann::ordered_json j;
  j["architectures"] = {is_moe ? moe->second.second : cls->second};
  j["model_type"] = is_moe ? moe->second.first : c.arch == "gemma3" ? "gemma3_text" : c.arch;
  if (is_moe) {
    const bool mixtral = c.arch == "llama";
    j[mixtral ? "num_local_experts" : "num_experts"] = c.n_expert;
    j["num_experts_per_tok"] = c.n_expert_used;
    if (!mixtral) {
      j["moe_intermediate_size"] = c.n_ff_expert;
      j["norm_topk_prob"] = c.expert_weights_norm;
      j["decoder_sparse_step"] = 1;
      j["mlp_only_layers"] = nlohmann::ordered_json::array();
    }
    if (c.n_ff_shared > 0) j["shared_expert_intermediate_size"] = c.n_ff_shared;
    if (c.arch == "qwen2moe") j["qkv_bias"] = true;
  }
  if (!c.name.empty()) j["_name_or_path"] = c.name;
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.n_expert > 0 && c.arch == "llama" ? c.n_ff_expert : c.n_ff;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["rms_norm_eps"] = c.rms_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scale_factor > 0) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scale_factor},
                         {"low_freq_factor", c.rope_low_freq_factor},
                         {"high_freq_factor", c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_context}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["max_position_embeddings"] = c.context_length > 0 ? c.context_length : 4096;
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = torch_dtype;
  if (quant.quantized()) {
    j["quantization"] = {{"group_size", quant.base.group_size}, {"bits", quant.base.bits}};
    for (const auto& [module, s] : quant.overrides) {
      if (s.bits == 0) {
        j["quantization"][module] = false;
      } else {
        j["quantization"][module] = {{"group_size", s.group_size}, {"bits", s.bits}};
      }
    }
    j["quantization_config"] = j["quantization"];
  }
  const std::string text = j.dump(2) + "\n";
  FS_ASSIGN_OR_RETURN(FileWriter out, FileWriter::Create(path));
  FS_RETURN_IF_ERROR(out.Write(text.data(), text.size()));
  return out.Close();
}

}  // namespace flashstream
