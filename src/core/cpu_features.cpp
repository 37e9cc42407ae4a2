#include "core/cpu_features.h"

#include <cpuid.h>        // __get_cpuid_count
#include <sys/syscall.h>  // SYS_arch_prctl
#include <unistd.h>       // syscall

namespace flashstream {
namespace {

constexpr int kArchGetXcompPerm = 0x1022;
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtileData = 18;

bool Bit(unsigned reg, int bit) { return ((reg >> bit) & 1u) != 0; }

unsigned long long ReadXcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return f;
  const bool osxsave = Bit(c, 27);
  if (!osxsave) return f;
  const bool cpu_fma = Bit(c, 12), cpu_f16c = Bit(c, 29), cpu_avx = Bit(c, 28);
  const unsigned long long xcr0 = ReadXcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;        // XMM + YMM state
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  if (!os_avx || !cpu_avx) return f;
  f.fma = cpu_fma;
  f.f16c = cpu_f16c;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = Bit(b, 5);
  if (os_avx512) {
    f.avx512f = Bit(b, 16);
    f.avx512dq = Bit(b, 17);
    f.avx512bw = Bit(b, 30);
    f.avx512vl = Bit(b, 31);
    f.avx512vnni = Bit(c, 11);
  }
  if (os_amx) {
    f.amx_bf16 = Bit(d, 22);
    f.amx_tile = Bit(d, 24);
    f.amx_int8 = Bit(d, 25);
  }
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (os_avx512 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512bf16 = Bit(a1, 5);
  return f;
}

}  // namespace

std::string CpuFeatures::ToString() const {
  std::string s;
  const auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512dq, "avx512dq");
  add(avx512vnni, "avx512vnni");
  add(avx512bf16, "avx512bf16");
  add(amx_tile, "amx_tile");
  add(amx_int8, "amx_int8");
  add(amx_bf16, "amx_bf16");
  return s;
}

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

bool RequestAmxPermission() {
  if (!GetCpuFeatures().amx_tile) return false;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) != 0) return false;
  unsigned long long bitmask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) != 0) return false;
  return (bitmask & (1ull << kXfeatureXtileData)) != 0;
}

}  // namespace flashstream
