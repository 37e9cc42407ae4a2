// Mistral: the Llama block; when the config sets sliding_window, every layer attends only to
// the last sliding_window keys (ModelConfig::IsSlidingLayer with period 0).
#include "models/arch.h"

namespace flashstream {

ArchFeatures MistralFeatures(const ModelConfig&) { return ArchFeatures{}; }

}  // namespace flashstream
