#include "formats/hf_names.h"

#include <array>
#include <charconv>

namespace flashstream {
namespace {

struct Pair {
  std::string_view hf, canonical;
};
constexpr std::array<Pair, 3> kGlobal = {
    {{"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}}};
// Per layer, after "model.layers.N." / "blk.N.".
constexpr std::array<Pair, 10> kLayer = {{{"self_attn.q_proj", "attn_q"},
                                          {"self_attn.k_proj", "attn_k"},
                                          {"self_attn.v_proj", "attn_v"},
                                          {"self_attn.o_proj", "attn_output"},
                                          {"self_attn.q_norm", "attn_q_norm"},
                                          {"self_attn.k_norm", "attn_k_norm"},
                                          {"mlp.gate_proj", "ffn_gate"},
                                          {"mlp.up_proj", "ffn_up"},
                                          {"mlp.down_proj", "ffn_down"},
                                          {"input_layernorm", "attn_norm"}}};
// Mixture of experts: router and shared expert (Qwen2-MoE), Mixtral's router.
constexpr std::array<Pair, 5> kMoe = {{{"mlp.gate", "ffn_gate_inp"},
                                       {"mlp.shared_expert.gate_proj", "ffn_gate_shexp"},
                                       {"mlp.shared_expert.up_proj", "ffn_up_shexp"},
                                       {"mlp.shared_expert.down_proj", "ffn_down_shexp"},
                                       {"mlp.shared_expert_gate", "ffn_gate_inp_shexp"}}};
constexpr std::array<Pair, 1> kMixtralRouter = {{{"block_sparse_moe.gate", "ffn_gate_inp"}}};
// Expert matrices after "<prefix>.experts.E.": Qwen's and Mixtral's names -> canonical stem.
constexpr std::array<Pair, 3> kQwenExpert = {
    {{"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"}, {"down_proj", "ffn_down"}}};
constexpr std::array<Pair, 3> kMixtralExpert = {{{"w1", "ffn_gate"}, {"w3", "ffn_up"}, {"w2", "ffn_down"}}};
constexpr std::string_view kQwenExperts = "mlp.experts.";
constexpr std::string_view kMixtralExperts = "block_sparse_moe.experts.";
// mlx-lm's stacked experts ([n_expert, rows, cols] per kind) -> GGUF's stacked stem.
constexpr std::array<Pair, 6> kSwitchMlp = {{{"mlp.switch_mlp.gate_proj", "ffn_gate_exps"},
                                             {"mlp.switch_mlp.up_proj", "ffn_up_exps"},
                                             {"mlp.switch_mlp.down_proj", "ffn_down_exps"},
                                             {"block_sparse_moe.switch_mlp.gate_proj", "ffn_gate_exps"},
                                             {"block_sparse_moe.switch_mlp.up_proj", "ffn_up_exps"},
                                             {"block_sparse_moe.switch_mlp.down_proj", "ffn_down_exps"}}};

constexpr std::array<Pair, 1> kLlamaNorms = {{{"post_attention_layernorm", "ffn_norm"}}};
constexpr std::array<Pair, 3> kGemmaNorms = {{{"post_attention_layernorm", "post_attention_norm"},
                                              {"pre_feedforward_layernorm", "ffn_norm"},
                                              {"post_feedforward_layernorm", "post_ffw_norm"}}};
constexpr std::array<std::string_view, 4> kSuffixes = {"weight", "bias", "scales", "biases"};

template <size_t N>
std::optional<std::string_view> Lookup(const std::array<Pair, N>& table, std::string_view key, bool to_canonical) {
  for (const Pair& p : table) {
    if ((to_canonical ? p.hf : p.canonical) == key) return to_canonical ? p.canonical : p.hf;
  }
  return std::nullopt;
}

// Splits "module.suffix" with a known suffix.
bool SplitSuffix(std::string_view name, std::string_view* module, std::string_view* suffix) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return false;
  *suffix = name.substr(dot + 1);
  *module = name.substr(0, dot);
  for (std::string_view s : kSuffixes) {
    if (s == *suffix) return true;
  }
  return false;
}

// "N.rest" -> N and rest.
bool SplitLayer(std::string_view s, int* layer, std::string_view* rest) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + dot, *layer);
  if (ec != std::errc() || ptr != s.data() + dot || *layer < 0) return false;
  *rest = s.substr(dot + 1);
  return true;
}

std::optional<std::string_view> MapLayerModule(std::string_view m, bool gemma3, bool to_canonical) {
  if (auto v = Lookup(kLayer, m, to_canonical)) return v;
  return gemma3 ? Lookup(kGemmaNorms, m, to_canonical) : Lookup(kLlamaNorms, m, to_canonical);
}

// "experts.E.w1" style module (after the layer) -> "ffn_gate.E", else nullopt.
std::optional<std::string> ExpertToCanonical(std::string_view m) {
  for (auto [prefix, mixtral] : {std::pair{kQwenExperts, false}, std::pair{kMixtralExperts, true}}) {
    if (m.substr(0, prefix.size()) != prefix) continue;
    int e = 0;
    std::string_view kind;
    if (!SplitLayer(m.substr(prefix.size()), &e, &kind)) return std::nullopt;
    auto stem = mixtral ? Lookup(kMixtralExpert, kind, true) : Lookup(kQwenExpert, kind, true);
    if (!stem) return std::nullopt;
    return std::string(*stem) + "." + std::to_string(e);
  }
  return std::nullopt;
}

// "ffn_gate.E" -> the HF expert module, else nullopt.
std::optional<std::string> ExpertFromCanonical(std::string_view m, bool mixtral) {
  const size_t dot = m.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int e = 0;
  const std::string_view digits = m.substr(dot + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), e);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  auto kind = mixtral ? Lookup(kMixtralExpert, m.substr(0, dot), false) : Lookup(kQwenExpert, m.substr(0, dot), false);
  if (!kind) return std::nullopt;
  return std::string(mixtral ? kMixtralExperts : kQwenExperts) + std::to_string(e) + "." + std::string(*kind);
}

}  // namespace

std::optional<std::string> CanonicalFromHf(std::string_view hf, bool gemma3) {
  constexpr std::string_view kLm = "language_model.";
  if (hf.substr(0, kLm.size()) == kLm) hf.remove_prefix(kLm.size());
  std::string_view module, suffix;
  if (!SplitSuffix(hf, &module, &suffix)) return std::nullopt;
  if (auto g = Lookup(kGlobal, module, true)) return std::string(*g) + "." + std::string(suffix);
  constexpr std::string_view kLayers = "model.layers.";
  if (module.substr(0, kLayers.size()) != kLayers) return std::nullopt;
  int layer = 0;
  std::string_view rest;
  if (!SplitLayer(module.substr(kLayers.size()), &layer, &rest)) return std::nullopt;
  std::optional<std::string> m;
  if (auto v = MapLayerModule(rest, gemma3, true)) m = std::string(*v);
  if (!m) m = ExpertToCanonical(rest);
  if (!m) {
    if (auto v = Lookup(kMoe, rest, true)) m = std::string(*v);
    if (auto v = Lookup(kMixtralRouter, rest, true)) m = std::string(*v);
    if (auto v = Lookup(kSwitchMlp, rest, true)) m = std::string(*v);
  }
  if (!m) return std::nullopt;
  return "blk." + std::to_string(layer) + "." + *m + "." + std::string(suffix);
}

std::optional<std::string> HfFromCanonical(std::string_view canonical, bool gemma3, bool mixtral) {
  std::string_view module, suffix;
  if (!SplitSuffix(canonical, &module, &suffix)) return std::nullopt;
  if (auto g = Lookup(kGlobal, module, false)) return std::string(*g) + "." + std::string(suffix);
  constexpr std::string_view kBlk = "blk.";
  if (module.substr(0, kBlk.size()) != kBlk) return std::nullopt;
  int layer = 0;
  std::string_view rest;
  if (!SplitLayer(module.substr(kBlk.size()), &layer, &rest)) return std::nullopt;
  std::optional<std::string> m;
  if (auto v = MapLayerModule(rest, gemma3, false)) m = std::string(*v);
  if (!m) m = ExpertFromCanonical(rest, mixtral);
  if (!m) {
    auto v = mixtral ? Lookup(kMixtralRouter, rest, false) : Lookup(kMoe, rest, false);
    if (v) m = std::string(*v);
  }
  if (!m) return std::nullopt;
  return "model.layers." + std::to_string(layer) + "." + *m + "." + std::string(suffix);
}

}  // namespace flashstream
