// Llama (2/3) and SmolLM2: the plain decoder block: RMSNorm, RoPE (with llama3 frequency
// scaling when the config has it), grouped-query attention without biases, SwiGLU
// feed-forward, tied or separate output head.
#include "models/arch.h"

namespace flashstream {

ArchFeatures LlamaFeatures(const ModelConfig&) { return ArchFeatures{}; }

}  // namespace flashstream
