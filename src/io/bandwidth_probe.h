// Measures a file's O_DIRECT read bandwidth at a given queue depth and request size, so a
// streaming plan can state the speed limit it implies on this disk.
#pragma once

#include <string>

#include "core/status.h"
#include "io/direct_reader.h"

namespace flashstream {

// Reads up to `bytes` from the middle of the file; returns GB/s (1e9 bytes per second).
Result<double> ProbeReadGBps(const std::string& path, const DirectReaderOptions& options, uint64_t bytes);

}  // namespace flashstream
