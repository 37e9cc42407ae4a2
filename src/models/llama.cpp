// Llama (2/3) and SmolLM2: the plain decoder block: RMSNorm, RoPE, grouped-query attention
// without biases, SwiGLU feed-forward, tied or separate output head.
#include "models/arch.h"

namespace flashstream {

ArchFeatures LlamaFeatures(const ModelConfig& config) { return ArchFeatures{}; }

}  // namespace flashstream
