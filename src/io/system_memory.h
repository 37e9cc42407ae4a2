// How much memory this process may use: the smaller of the machine's available memory and the
// room left under its cgroup's memory limit (v1 or v2), page cache included.
#pragma once

#include <cstdint>

namespace flashstream {

struct MemoryLimits {
  uint64_t available_bytes = 0;  // MemAvailable from /proc/meminfo
  uint64_t cgroup_limit = 0;     // this process's cgroup limit; 0 = none
  uint64_t cgroup_usage = 0;     // the cgroup's current usage (page cache included)
  uint64_t usable() const;       // what a new allocation may take
};

MemoryLimits ReadMemoryLimits();

}  // namespace flashstream
