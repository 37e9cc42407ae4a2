// ExpertLayout: where a mixture-of-experts model's bytes are, from its ModelIndex alone: the
// size of one routed expert (its gate, up and down matrices), how many contiguous file extents
// an expert spans, and the weight bytes one token touches. Used by `inspect` and the residency
// planner. Pure function of the index; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "formats/model_index.h"

namespace flashstream {

struct ExpertLayout {
  uint64_t expert_bytes = 0;  // largest routed expert (gate + up + down), bytes
  uint64_t routed_bytes = 0;  // all routed experts of all layers
  uint64_t shared_bytes = 0;  // everything else but the token embedding table (attention,
                              // norms, routers, shared experts, output head)
  // Weight bytes one decode token reads: shared_bytes, n_expert_used experts per layer, and
  // one row of the embedding table.
  uint64_t active_bytes_per_token = 0;
  // Most contiguous file extents any expert spans (1 = each expert is one read; stacked GGUF
  // experts are 3: one slice of each of ffn_{gate,up,down}_exps).
  int max_extents = 0;
};

// Zeros for a dense model (config.n_expert == 0).
ExpertLayout MeasureExperts(const ModelIndex& index);

// Whether a canonical name is a routed expert matrix "blk.N.ffn_{gate,up,down}.E.weight".
bool IsRoutedExpert(const std::string& name);

// The index without its routed expert matrices (what stays resident next to an expert cache).
ModelIndex WithoutRoutedExperts(const ModelIndex& index);

}  // namespace flashstream
