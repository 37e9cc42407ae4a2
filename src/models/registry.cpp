// The architecture registry: adding an architecture is one file plus one line here.
#include <array>

#include "models/arch.h"

namespace flashstream {
namespace {
constexpr std::array<ArchEntry, 7> kArchs = {{
    {"llama", &LlamaFeatures},        // Llama 2/3, SmolLM2, Mistral-shaped GGUFs, Mixtral (experts from the config)
    {"mistral", &MistralFeatures},    // Mistral (sliding window from the config)
    {"qwen2", &Qwen2Features},        // Qwen2 / Qwen2.5 (q/k/v biases)
    {"qwen3", &Qwen3Features},        // Qwen3 dense (QK-norm)
    {"gemma3", &Gemma3Features},      // Gemma 3 text models
    {"qwen2moe", &Qwen2MoeFeatures},  // Qwen2-MoE (shared expert)
    {"qwen3moe", &Qwen3MoeFeatures},  // Qwen3-MoE
}};
}  // namespace

const ArchEntry* FindArch(std::string_view name) {
  for (const ArchEntry& e : kArchs) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string_view SupportedArchNames() { return "llama, mistral, qwen2, qwen3, gemma3, qwen2moe, qwen3moe"; }

}  // namespace flashstream
