#include "io/system_memory.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace flashstream {
namespace {

uint64_t ReadNumber(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!(f >> s) || s == "max") return 0;
  try {
    return std::stoull(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

uint64_t MemoryLimits::usable() const {
  uint64_t usable = available_bytes;
  if (cgroup_limit > 0) {
    const uint64_t room = cgroup_limit > cgroup_usage ? cgroup_limit - cgroup_usage : 0;
    usable = usable == 0 ? room : std::min(usable, room);
  }
  return usable;
}

MemoryLimits ReadMemoryLimits() {
  MemoryLimits m;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") {
      m.available_bytes = kb * 1024;
      break;
    }
  }
  // /proc/self/cgroup: "N:memory:/path" (v1) or "0::/path" (v2).
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  while (std::getline(cg, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers == "memory") {
      const std::string dir = "/sys/fs/cgroup/memory" + path;
      m.cgroup_limit = ReadNumber(dir + "/memory.limit_in_bytes");
      m.cgroup_usage = ReadNumber(dir + "/memory.usage_in_bytes");
      if (m.cgroup_limit >= (uint64_t{1} << 60)) m.cgroup_limit = 0;  // v1 "unlimited"
      break;
    }
    if (controllers.empty()) {
      const std::string dir = "/sys/fs/cgroup" + path;
      m.cgroup_limit = ReadNumber(dir + "/memory.max");
      m.cgroup_usage = ReadNumber(dir + "/memory.current");
    }
  }
  return m;
}

}  // namespace flashstream
