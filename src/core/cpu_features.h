// Run-time detection of the x86 instruction-set extensions the kernels can use.
// A feature is reported only when the CPU has it AND the OS saves its register state
// (XCR0), so a true flag means the instructions can run. Detected once, then immutable;
// thread-safe.
#pragma once

#include <string>

namespace flashstream {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool amx_tile = false;  // CPU + OS support; the process must still call RequestAmxPermission()
  bool amx_int8 = false;
  bool amx_bf16 = false;

  // The set the *_avx512.cpp kernels are compiled for (F, BW, VL, DQ, VNNI, BF16, F16C, FMA).
  bool HasAvx512Kernels() const {
    return avx512f && avx512bw && avx512vl && avx512dq && avx512vnni && avx512bf16 && f16c && fma;
  }
  std::string ToString() const;  // e.g. "avx2 fma f16c avx512f ... amx_int8"
};

// The features of the CPU this process runs on.
const CpuFeatures& GetCpuFeatures();

// Asks Linux for permission to use the AMX tile data state (arch_prctl ARCH_REQ_XCOMP_PERM).
// Returns true when AMX can be used by this process (idempotent; false without AMX).
bool RequestAmxPermission();

}  // namespace flashstream
