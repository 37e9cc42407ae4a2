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
  auto m = MapLayerModule(rest, gemma3, true);
  if (!m) return std::nullopt;
  return "blk." + std::to_string(layer) + "." + std::string(*m) + "." + std::string(suffix);
}

std::optional<std::string> HfFromCanonical(std::string_view canonical, bool gemma3) {
  std::string_view module, suffix;
  if (!SplitSuffix(canonical, &module, &suffix)) return std::nullopt;
  if (auto g = Lookup(kGlobal, module, false)) return std::string(*g) + "." + std::string(suffix);
  constexpr std::string_view kBlk = "blk.";
  if (module.substr(0, kBlk.size()) != kBlk) return std::nullopt;
  int layer = 0;
  std::string_view rest;
  if (!SplitLayer(module.substr(kBlk.size()), &layer, &rest)) return std::nullopt;
  auto m = MapLayerModule(rest, gemma3, false);
  if (!m) return std::nullopt;
  return "model.layers." + std::to_string(layer) + "." + std::string(*m) + "." + std::string(suffix);
}

}  // namespace flashstream
