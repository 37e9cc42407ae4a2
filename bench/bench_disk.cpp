// O_DIRECT read bandwidth of a file at a given queue depth and request size: the disk's limit
// for streamed decode, measured the way the engine reads (one read of --block-mib at a time,
// as the engine reads one streamed layer: a 7B layer is ~200 MiB).
//   bench_disk FILE [--io-depth 16] [--io-chunk-kib 1024] [--gib 2] [--block-mib 256]
#include <fmt/format.h>       // fmt::print
#include <nlohmann/json.hpp>  // JSON output

#include <cstdlib>
#include <string>

#include "io/bandwidth_probe.h"

using namespace flashstream;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_disk FILE [--io-depth N] [--io-chunk-kib N] [--gib N] [--block-mib N]\n");
    return 2;
  }
  DirectReaderOptions o;
  double gib = 2;
  uint64_t block_mib = 256;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--io-depth") o.queue_depth = std::atoi(argv[i + 1]);
    else if (flag == "--io-chunk-kib") o.chunk_bytes = std::strtoull(argv[i + 1], nullptr, 10) * 1024;
    else if (flag == "--gib") gib = std::atof(argv[i + 1]);
    else if (flag == "--block-mib") block_mib = std::strtoull(argv[i + 1], nullptr, 10);
  }
  Result<double> gbps = ProbeReadGBps(argv[1], o, static_cast<uint64_t>(gib * (1ull << 30)), block_mib << 20);
  if (!gbps.ok()) {
    fmt::print(stderr, "bench_disk: {}\n", gbps.status().message());
    return 1;
  }
  nlohmann::json out = {{"file", argv[1]}, {"io_depth", o.queue_depth}, {"chunk_bytes", o.chunk_bytes},
                        {"block_bytes", block_mib << 20}, {"read_gbps", *gbps}};
  fmt::print("{}\n", out.dump());
  return 0;
}
