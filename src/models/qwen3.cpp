// Qwen3 (dense): the Llama block with a per-head RMSNorm on q and k before RoPE; no biases.
#include "models/arch.h"

namespace flashstream {

ArchFeatures Qwen3Features(const ModelConfig&) {
  ArchFeatures f;
  f.qk_norm = true;
  return f;
}

}  // namespace flashstream
