// Qwen2 / Qwen2.5: the Llama block with biases on the q, k and v projections.
#include "models/arch.h"

namespace flashstream {

ArchFeatures Qwen2Features(const ModelConfig&) {
  ArchFeatures f;
  f.attn_bias = true;
  return f;
}

}  // namespace flashstream
