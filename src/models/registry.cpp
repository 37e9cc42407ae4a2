// The architecture registry: adding an architecture is one file plus one line here.
#include <array>

#include "models/arch.h"

namespace flashstream {
namespace {
constexpr std::array<ArchEntry, 5> kArchs = {{
    {"llama", &LlamaFeatures},      // Llama 2/3, SmolLM2 (and Mistral-shaped GGUFs)
    {"mistral", &MistralFeatures},  // Mistral (sliding window from the config)
    {"qwen2", &Qwen2Features},      // Qwen2 / Qwen2.5 (q/k/v biases)
    {"qwen3", &Qwen3Features},      // Qwen3 dense (QK-norm)
    {"gemma3", &Gemma3Features},    // Gemma 3 text models
}};
}  // namespace

const ArchEntry* FindArch(std::string_view name) {
  for (const ArchEntry& e : kArchs) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string_view SupportedArchNames() { return "llama, mistral, qwen2, qwen3, gemma3"; }

}  // namespace flashstream
