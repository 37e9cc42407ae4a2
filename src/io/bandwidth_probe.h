// Measures a file's O_DIRECT read bandwidth at a given queue depth and request size, so a
// streaming plan can state the speed limit it implies on this disk.
#pragma once

#include <string>

#include "core/status.h"
#include "io/direct_reader.h"

namespace flashstream {

// Reads up to `bytes` from the middle of the file in reads of `block_bytes` (each one a queue of
// requests that drains before the next starts, as the engine reads one layer at a time: give
// the streamed layer size for a faithful limit); returns GB/s (1e9 bytes per second). Holds
// one block of memory.
Result<double> ProbeReadGBps(const std::string& path, const DirectReaderOptions& options, uint64_t bytes,
                             uint64_t block_bytes = 16ull << 20);

}  // namespace flashstream
