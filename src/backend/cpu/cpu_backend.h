// CPU backend construction with an explicit instruction-set choice (tests run both paths).
// MakeCpuBackend(pool) in backend.h is MakeCpuBackend(pool, CpuIsa::kAuto).
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

// Borrows `pool`, which must outlive the backend. Precondition: CpuIsaAvailable(isa).
// With kAuto, an FS_CPU_ISA value naming an unavailable or unknown ISA aborts with a message.
std::unique_ptr<Backend> MakeCpuBackend(ThreadPool& pool, CpuIsa isa);

}  // namespace flashstream
