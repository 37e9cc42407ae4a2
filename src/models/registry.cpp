// The architecture registry: adding an architecture is one file plus one line here.
#include <array>

#include "models/arch.h"

namespace flashstream {
namespace {
constexpr std::array<ArchEntry, 1> kArchs = {{
    {"llama", &LlamaFeatures},  // Llama 2, SmolLM2 (and Mistral-shaped GGUFs)
}};
}  // namespace

const ArchEntry* FindArch(std::string_view name) {
  for (const ArchEntry& e : kArchs) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace flashstream
