// Memory read bandwidth with N threads over a buffer much larger than the LLC.
// Usage: bench_membw [--threads N=2] [--mib M=1024] [--passes P=5]
// Prints JSON: {"threads":2,"bytes":...,"read_gbps":...}
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>  // JSON output

#include "backend/cpu/membw.h"
#include "core/thread_pool.h"

int main(int argc, char** argv) {
  int threads = 2, passes = 5;
  long mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--mib") == 0) mib = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--passes") == 0) passes = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--mib M] [--passes P]\n", argv[0]);
      return 2;
    }
  }
  flashstream::ThreadPool pool(threads);
  const size_t bytes = static_cast<size_t>(mib) << 20;
  const double gbps = flashstream::MeasureReadBandwidthGBps(pool, bytes, passes);
  nlohmann::json j = {{"threads", threads}, {"bytes", bytes}, {"read_gbps", gbps}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
