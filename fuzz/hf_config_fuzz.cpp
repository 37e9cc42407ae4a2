// libFuzzer target: the config.json reader (generic keys, rope scaling, MLX
// quantization with per-module overrides) and the HF <-> canonical tensor name
// mapping.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/hf_config.h"
#include "formats/hf_names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<HfConfig> config = ParseHfConfig(text, "config.json");
  if (config.ok()) {
    for (const auto& [module, setting] : config->quant.overrides) (void)config->quant.For(module);
  }
  for (bool gemma3 : {false, true}) {
    if (auto canonical = CanonicalFromHf(text, gemma3)) (void)HfFromCanonical(*canonical, gemma3);
  }
  return 0;
}
