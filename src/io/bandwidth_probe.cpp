#include "io/bandwidth_probe.h"

#include <algorithm>
#include <chrono>

namespace flashstream {

Result<double> ProbeReadGBps(const std::string& path, const DirectReaderOptions& options, uint64_t bytes,
                             uint64_t block_bytes) {
  FS_ASSIGN_OR_RETURN(std::unique_ptr<DirectReader> reader, DirectReader::Open(path, options));
  const uint64_t size = reader->file_size();
  bytes = std::min(bytes, size) & ~(kDirectAlign - 1);
  if (bytes == 0) return Errorf("{}: file too small to measure read bandwidth ({} bytes)", path, size);
  const uint64_t kBlock = std::max<uint64_t>(block_bytes, kDirectAlign) & ~(kDirectAlign - 1);
  FS_ASSIGN_OR_RETURN(AlignedBuffer buffer, AlignedBuffer::Allocate(std::min(bytes, kBlock)));
  const uint64_t start = ((size - bytes) / 2) & ~(kDirectAlign - 1);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t done = 0; done < bytes;) {
    const uint64_t n = std::min(kBlock, bytes - done);
    FS_RETURN_IF_ERROR(reader->Read(AlignRange(start + done, n), buffer.data()));
    done += n;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(bytes) / secs / 1e9;
}

}  // namespace flashstream
