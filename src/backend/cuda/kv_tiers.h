// The host side of the CUDA backend's KV cache operations: KvBlockLayout -> cuda::KvLayout,
// and TieredAttention's block tables packed into one upload per call (kv_kernels.h runs it).
// Owns its scratch; not thread-safe (one backend's calls at a time).
#pragma once

#include <cuda_runtime_api.h>  // cudaStream_t

#include <cstddef>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/kv_kernels.h"
#include "backend/cuda/scratch.h"

namespace flashstream::cuda {

KvLayout ToDevice(const KvBlockLayout& layout);

class TieredAttentionRunner {
 public:
  // Checks the tiers' shape (consecutive blocks of layout.rows positions, one layout per tier;
  // aborts otherwise), uploads the tables and `split`, and launches the attention.
  void Run(const TieredAttentionArgs& args, cudaStream_t stream);

 private:
  std::vector<std::byte> host_;  // split[n_tok], then the tiers' k and v block pointers
  Scratch table_;                // its device copy
  Scratch part_;                 // the kernels' partial softmaxes
};

}  // namespace flashstream::cuda
