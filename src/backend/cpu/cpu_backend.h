// CPU backend construction with explicit options (tests run every path).
// MakeCpuBackend(pool) in backend.h is MakeCpuBackend(pool, CpuBackendOptions{}).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace flashstream {

enum class CpuIsa {
  kAuto,     // FS_CPU_ISA=generic|avx512 if set, else the best the CPU supports
  kGeneric,  // portable C++ kernels
  kAvx512,   // AVX-512 F/BW/VL/DQ/VNNI/BF16 + F16C kernels
  kCount,    // sentinel
};

// True when `isa` can run on this CPU (kAuto and kGeneric always can).
bool CpuIsaAvailable(CpuIsa isa);

struct CpuBackendOptions {
  CpuIsa isa = CpuIsa::kAuto;
  // Quantized-weight matmuls: false (exact) keeps activations f32 and dequantizes weights in
  // registers (matmul_exact.h); true quantizes activations to int8 per 32 values and uses
  // integer dot products (llama.cpp's scheme; faster, logits NMSE ~1e-3 vs f32). Name()
  // then ends in "-int8".
  bool int8_activations = false;
  // With int8_activations: int8 digit levels per activation (QuantizedActs), 1..3. Each level
  // divides the activation rounding error by 256 (3 levels: logits within f32 rounding of
  // the exact kernels) for one more integer dot product. Name() ends in "-int8x<levels>" when > 1.
  int int8_levels = 1;
};

// Borrows `pool`, which must outlive the backend. Precondition: CpuIsaAvailable(options.isa).
// With kAuto, an FS_CPU_ISA value naming an unavailable or unknown ISA aborts with a message.
std::unique_ptr<Backend> MakeCpuBackend(ThreadPool& pool, const CpuBackendOptions& options);

}  // namespace flashstream
